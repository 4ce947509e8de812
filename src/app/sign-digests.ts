import { ModelsealError } from '../errors.js';
import { rootDigest } from '../model/digest.js';
import { GIT_IGNORE_PATHS, sortForSigning } from '../model/names.js';
import type { Manifest } from '../model/types.js';
import type { SignerSpec } from '../signatures/core/signer.js';
import { signManifest } from '../signatures/oms/sign.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import type { ModelLayout } from '../stores/oci/formats.js';
import { formatOciReference, type OciReference } from '../stores/oci/reference.js';
import { createOciSource } from '../stores/oci/source.js';
import { attachOmsSignature } from './attach.js';

/**
 * Sign a published OCI model from its manifest alone (model_signing-go's OCI signing): a raw
 * layer's bytes are exactly one file, so its digest is that file's SHA-256 and its size the file's
 * size (oci-and-s3.md §1.6) — the OMS `files`/`sha256` manifest follows from the registry
 * manifest without downloading a weight byte. The bundle is then attached as a referrer of the
 * pinned manifest. Tar layers are refused: the manifest holds the digest of the archive, not of
 * the files inside it.
 */

const SHA256 = /^sha256:([0-9a-f]{64})$/;
const SIGNATURE_FILE = 'model.sig';

export interface DigestSignResult {
  /** The manifest that was signed (pinned reference and digest). */
  reference: string;
  digest: string;
  referrer: string;
  rootDigest: string;
  resources: number;
}

/** The OMS manifest a raw-layer artefact stands for; `modelName` is the repository's last component. */
export function manifestFromLayout(layout: ModelLayout, modelName: string): Manifest {
  if (layout.layers.length === 0) throw new ModelsealError('USAGE', 'the artefact has no model layers to sign');
  const resources = layout.layers.map((l) => {
    const where = `layer ${l.index} (${l.path || l.desc.digest}, ${l.desc.mediaType})`;
    if (l.packing !== 'raw') {
      throw new ModelsealError(
        'FILE_TYPE_UNSUPPORTED',
        `${where} is a ${l.packing} archive: the registry manifest has the archive's digest, not those of its files, so it cannot be signed from digests (sign the directory before publishing)`,
      );
    }
    if (l.path === '') throw new ModelsealError('FILE_TYPE_UNSUPPORTED', `${where} names no file path`);
    const m = SHA256.exec(l.desc.digest);
    if (!m) throw new ModelsealError('FILE_TYPE_UNSUPPORTED', `${where} has digest ${l.desc.digest}; OMS files resources need SHA-256`);
    return { name: l.path, algorithm: 'sha256', digest: m[1]! };
  });
  const paths = resources.map((r) => r.name);
  // The ignores a directory signature records by default, minus any that would hide a signed file.
  const ignorePaths = [...GIT_IGNORE_PATHS, SIGNATURE_FILE].filter((ig) => !paths.some((p) => p === ig || p.startsWith(`${ig}/`)));
  return {
    modelName,
    serialization: { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths },
    resources: sortForSigning(resources),
  };
}

export async function signPublishedModel(reference: string, signer: SignerSpec, opts: OciClientOptions): Promise<DigestSignResult> {
  if (!reference.startsWith('oci://')) throw new ModelsealError('USAGE', `signing from digests takes an oci:// reference, not ${JSON.stringify(reference)}`);
  const source = createOciSource(reference, opts);
  let pinned: string;
  let manifest: Manifest;
  try {
    // Reads the manifest and, for ModelPack, the small config blob (diffIds) — never a layer.
    const resolved = await source.resolve();
    pinned = formatOciReference({ ...source.reference, tag: undefined, digest: resolved.resolvedDigest } as OciReference);
    const repo = source.reference.repository;
    manifest = manifestFromLayout(await source.layout(), repo.slice(repo.lastIndexOf('/') + 1));
  } finally {
    await source.close();
  }
  const bundle = await signManifest(manifest, signer);
  // Attach to the digest just signed, never to whatever the tag names by now.
  const attached = await attachOmsSignature(pinned, Buffer.from(bundle), opts);
  return { reference: pinned, digest: attached.digest, referrer: attached.referrer, rootDigest: rootDigest(manifest.resources), resources: manifest.resources.length };
}
