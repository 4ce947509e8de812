import { ModelsealError } from '../errors.js';
import { createOciSource } from '../stores/oci/source.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { PREDICATE } from '../stores/oci/media-types.js';
import { pushBundleReferrer } from '../stores/oci/publish.js';
import { parseBundle } from '../signatures/oms/bundle.js';
import { planForManifest } from './plan.js';

export interface AttachResult {
  reference: string;
  /** The manifest the signature now refers to. */
  digest: string;
  /** The referrer manifest that carries the bundle. */
  referrer: string;
}

/**
 * Attach one more OMS signature to a published OCI model, so that several authorities can each
 * sign it (a policy `threshold`). Nothing is trusted here — pulls verify the signer — but a
 * bundle for other files is refused before anything is pushed: its signed files must be
 * exactly the artefact's, and a raw layer's digest must be the signed SHA-256.
 */
export async function attachOmsSignature(reference: string, bundleJson: Buffer, opts: OciClientOptions): Promise<AttachResult> {
  if (!reference.startsWith('oci://')) throw new ModelsealError('USAGE', `attach takes an oci:// reference, not ${JSON.stringify(reference)}`);
  const { statement } = parseBundle(bundleJson);
  const source = createOciSource(reference, opts);
  try {
    const resolved = await source.resolve();
    planForManifest(statement.manifest, await source.list(), resolved, false);
    const m = source.manifest();
    const subject = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    const referrer = await pushBundleReferrer(source.client, source.reference.repository, subject, bundleJson, PREDICATE.omsV1, new Date().toISOString());
    return { reference, digest: m.digest, referrer };
  } finally {
    await source.close();
  }
}
