import type { OciClientOptions } from './oci/client.js';
import type { S3Options } from './s3/options.js';
import { createDirSource } from './dir/source.js';
import type { ModelSource } from './types.js';

export interface SourceOptions {
  oci?: OciClientOptions;
  s3?: S3Options;
  /** Directory sources: the detached signature (default `<dir>/model.sig`). */
  signaturePath?: string;
  allowSymlinks?: boolean;
}

export type SourceKind = 'oci' | 's3' | 'dir';

export function sourceKind(reference: string): SourceKind {
  if (reference.startsWith('oci://')) return 'oci';
  if (reference.startsWith('s3://')) return 's3';
  return 'dir';
}

/**
 * One factory from a reference to its source. OCI and S3 modules load lazily: the S3 SDK is
 * large, and a pod verifying a registry model should not pay for it.
 */
export async function openSource(reference: string, opts: SourceOptions = {}): Promise<ModelSource> {
  switch (sourceKind(reference)) {
    case 'oci': {
      const { createOciSource } = await import('./oci/source.js');
      return createOciSource(reference, opts.oci ?? {});
    }
    case 's3': {
      const { createS3Source } = await import('./s3/source.js');
      return createS3Source(reference, { ...(opts.s3 ?? {}), ...(opts.signaturePath ? { signatureUrl: opts.signaturePath } : {}) });
    }
    case 'dir':
      return createDirSource(reference, { signaturePath: opts.signaturePath, allowSymlinks: opts.allowSymlinks });
  }
}
