/**
 * Names an object-store model prefix (S3, Azure Blob) reserves beside the model files: the
 * detached OMS bundle and the SBOM with its signature. One owner for every object store.
 */

/** The detached OMS bundle's name under the prefix (model_signing default). */
export const SIGNATURE_NAME = 'model.sig';
/** The SBOM a publish writes beside the signature. */
export const SBOM_NAME = 'model.sbom.json';
/** The SBOM's signature bundle a publish writes beside it (also discovered as kind `sbom`). */
export const SBOM_SIGNATURE_NAME = 'model.sbom.sig';

/** Top-level SBOM files and their bundles (`model.sbom.json`, `model.sbom.sig`, `*.sbom*`) are attestations, not model files. */
export function isSbomName(rel: string): boolean {
  return !rel.includes('/') && /\.sbom(\.|$)/i.test(rel);
}

/** What an object-store publish uploads: a signed model directory and its attestations. */
export interface SignedModelUpload {
  /** The model directory the manifest was computed from. */
  dir: string;
  url: string;
  /** Every signed file, model-relative, with the size and SHA-256 the signature covers. */
  files: Array<{ path: string; size: number; sha256: string }>;
  bundleJson: string;
  sbomJson?: string;
  /** The SBOM's own signature bundle (statement over the SBOM, subject = root digest): `model.sbom.sig`. */
  sbomBundleJson?: string;
}

/** How a listing's reads are pinned: by version ID where the store keeps versions, else by ETag (If-Match). */
export function pinningOf(versioned: number, total: number): 'version-id' | 'etag' | 'mixed' {
  return versioned === total ? 'version-id' : versioned === 0 ? 'etag' : 'mixed';
}
