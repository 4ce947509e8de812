import type { OciClientOptions } from './oci/client.js';
import type { S3Options } from './s3/options.js';
import type { AzureOptions } from './azure/options.js';
import { createDirSource } from './dir/source.js';
import { referenceKind, type ReferenceKind } from './reference.js';
import type { ModelSource } from './types.js';

export { referenceKind, type ReferenceKind } from './reference.js';

export interface SourceOptions {
  oci?: OciClientOptions;
  s3?: S3Options;
  azure?: AzureOptions;
  /** Directory sources: the detached signature (default `<dir>/model.sig`). */
  signaturePath?: string;
  allowSymlinks?: boolean;
}

/**
 * The stores, one line each: a reference's scheme picks its store. OCI and S3 modules load
 * lazily: the S3 SDK is large, and a pod verifying a registry model should not pay for it.
 */
const STORES: Record<ReferenceKind, (reference: string, opts: SourceOptions) => Promise<ModelSource>> = {
  oci: async (ref, o) => (await import('./oci/source.js')).createOciSource(ref, o.oci ?? {}),
  s3: async (ref, o) => (await import('./s3/source.js')).createS3Source(ref, { ...(o.s3 ?? {}), ...(o.signaturePath ? { signatureUrl: o.signaturePath } : {}) }),
  azure: async (ref, o) => (await import('./azure/source.js')).createAzureSource(ref, o.azure ?? {}),
  dir: async (ref, o) => createDirSource(ref, { signaturePath: o.signaturePath, allowSymlinks: o.allowSymlinks }),
};

/** One factory from a reference to its source. */
export async function openSource(reference: string, opts: SourceOptions = {}): Promise<ModelSource> {
  return STORES[referenceKind(reference)](reference, opts);
}

