import { stat } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { hashModelFiles } from '../model/serialize.js';
import { resourcePath } from '../model/compare.js';
import type { Manifest } from '../model/types.js';
import { listModelFiles } from '../model/walk.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import type { S3Options } from '../stores/s3/options.js';
import type { AzureOptions } from '../stores/azure/options.js';
import { referenceKind } from '../stores/registry.js';

export interface PublishInput {
  dir: string;
  dest: string;
  /** The signed manifest the bundle covers (its files are exactly what is published). */
  manifest: Manifest;
  bundleJson: string;
  sbomJson?: string;
  /** The SBOM's signature bundle (in-toto statement, predicate = the SBOM, subject = root digest). */
  sbomBundleJson?: string;
  oci?: OciClientOptions;
  s3?: S3Options;
  azure?: AzureOptions;
  /** OCI only: also sign the pushed manifest digest cosign-style. */
  cosignSigner?: (statementJson: Buffer) => Promise<string>;
}

export interface PublishOutput {
  destination: string;
  digest?: string;
  files: number;
}

/**
 * The files a manifest signs, with sizes and whole-file SHA-256s (the OCI layer digests and S3
 * checksums). `files`+`sha256` manifests already hold them; otherwise one more hashing pass.
 */
export async function signedFileList(dir: string, m: Manifest): Promise<Array<{ path: string; size: number; sha256: string }>> {
  const paths = new Set(m.resources.map((r) => resourcePath(r, m.serialization.method)));
  const all = await listModelFiles(dir, { allowSymlinks: m.serialization.allowSymlinks, ignorePaths: m.serialization.ignorePaths });
  const files = all.filter((f) => paths.has(f.rel));
  if (files.length !== paths.size) throw new ModelsealError('FILE_MISSING', `the model directory changed since it was signed (${paths.size} signed files, ${files.length} found)`);
  const direct = m.serialization.method === 'files' && m.serialization.hashType === 'sha256';
  const digests = direct
    ? new Map(m.resources.map((r) => [r.name, r.digest]))
    : new Map((await hashModelFiles(files, 'files', 'sha256', 0)).map((r) => [r.name, r.digest]));
  return files.map((f) => ({ path: f.rel, size: f.size, sha256: digests.get(f.rel)! }));
}

/** Publish a signed model to an OCI registry or an S3 prefix (modules load lazily). */
export async function publish(input: PublishInput): Promise<PublishOutput> {
  if (!(await stat(input.dir)).isDirectory()) throw new ModelsealError('USAGE', `${input.dir} is not a model directory`);
  const files = await signedFileList(input.dir, input.manifest);
  switch (referenceKind(input.dest)) {
    case 'oci': {
      const { publishOci } = await import('../stores/oci/publish.js');
      const r = await publishOci({
        dir: input.dir,
        ref: input.dest,
        files,
        bundleJson: input.bundleJson,
        client: input.oci ?? {},
        ...(input.sbomJson ? { sbomJson: input.sbomJson } : {}),
        ...(input.sbomBundleJson ? { sbomBundleJson: input.sbomBundleJson } : {}),
        ...(input.cosignSigner ? { cosignSigner: input.cosignSigner } : {}),
        modelName: input.manifest.modelName,
      });
      return { destination: r.reference, digest: r.digest, files: files.length };
    }
    case 's3': {
      const { publishS3 } = await import('../stores/s3/publish.js');
      const r = await publishS3({
        dir: input.dir,
        url: input.dest,
        files,
        bundleJson: input.bundleJson,
        s3: input.s3 ?? {},
        ...(input.sbomJson ? { sbomJson: input.sbomJson } : {}),
        ...(input.sbomBundleJson ? { sbomBundleJson: input.sbomBundleJson } : {}),
      });
      return { destination: r.url, files: files.length };
    }
    case 'azure': {
      const { publishAzure } = await import('../stores/azure/publish.js');
      const r = await publishAzure({
        dir: input.dir,
        url: input.dest,
        files,
        bundleJson: input.bundleJson,
        azure: input.azure ?? {},
        ...(input.sbomJson ? { sbomJson: input.sbomJson } : {}),
        ...(input.sbomBundleJson ? { sbomBundleJson: input.sbomBundleJson } : {}),
      });
      return { destination: r.url, files: files.length };
    }
    case 'dir':
      throw new ModelsealError('USAGE', `publish destination must be oci://… or s3://…, not ${input.dest}`);
  }
}
