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
