import { ModelsealError } from '../../errors.js';
import type { SignatureCandidate } from '../types.js';
import { kindOfPredicate } from '../../signatures/registry.js';
import { indexDescriptors, type Descriptor, type RegistryClient } from './client.js';
import type { ModelLayer } from './formats.js';
import { ANNOTATION, MT } from './media-types.js';
import { fallbackTag } from './reference.js';
import { MEDIA_TYPE as NOTATION_ENVELOPE } from '../../signatures/notation/envelope.js';

/** Bundles and payloads are small; anything bigger is hostile (same cap as manifests). */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;
const MAX_SBOM_BYTES = 16 * 1024 * 1024;
/** Bound the work a registry can make us do by attaching referrers. */
const MAX_REFERRERS = 64;

export interface Discovery {
  candidates: SignatureCandidate[];
  /** Referrers that could not be used, and why (for `inspect`); never fatal. */
  problems: string[];
  /** How referrers were found: the API, the fallback tag, or neither. */
  referrersVia: 'api' | 'fallback-tag' | 'none';
}

function isBundleType(t: string | undefined): boolean {
  return !!t && t.startsWith('application/vnd.dev.sigstore.bundle');
}

const SKIPPABLE = new Set(['REGISTRY_PROTOCOL', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'NOT_FOUND']);

export async function discoverSignatures(client: RegistryClient, repo: string, digest: string, sigLayer?: ModelLayer): Promise<Discovery> {
  const candidates: SignatureCandidate[] = [];
  const problems: string[] = [];
  const guard = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      // One broken referrer must not hide the others; the policy decides if what remains suffices.
      if (err instanceof ModelsealError && SKIPPABLE.has(err.code)) problems.push(`${what}: ${err.message}`);
      else throw err;
    }
  };

  let referrersVia: Discovery['referrersVia'] = 'none';
  let descs = await client.referrers(repo, digest);
  if (descs) referrersVia = 'api';
  else {
    const tag = fallbackTag(digest);
    const idx = await client.getManifestIfExists(repo, tag);
    if (idx && idx.mediaType === MT.ociIndex) {
      descs = indexDescriptors(idx.bytes, `fallback tag ${tag}`);
      referrersVia = 'fallback-tag';
    }
  }
  for (const d of (descs ?? []).slice(0, MAX_REFERRERS)) {
    await guard(`referrer ${d.digest}`, () => readReferrer(client, repo, digest, d, referrersVia, candidates));
  }
  if ((descs?.length ?? 0) > MAX_REFERRERS) problems.push(`only the first ${MAX_REFERRERS} of ${descs!.length} referrers were read`);

  const sigTag = fallbackTag(digest, '.sig');
  await guard(`tag ${sigTag}`, async () => {
    const m = await client.getManifestIfExists(repo, sigTag);
    if (m) await readLegacyLayers(client, repo, m.json, `tag ${sigTag}`, candidates);
  });

  if (sigLayer) {
    await guard('model.sig layer', async () => {
      candidates.push({ kind: 'oms', origin: `model.sig (layer ${sigLayer.desc.digest})`, size: sigLayer.desc.size, read: () => client.readBlob(repo, sigLayer.desc, MAX_BUNDLE_BYTES) });
    });
  }
  return { candidates, problems, referrersVia };
}

async function readReferrer(
  client: RegistryClient, repo: string, subject: string, d: Descriptor, via: Discovery['referrersVia'], out: SignatureCandidate[],
): Promise<void> {
  const m = await client.getManifest(repo, d.digest);
  const j = m.json;
  const subj = j.subject as { digest?: unknown } | undefined;
  // The fallback index is a mutable tag: trust only what each referrer itself says it signs.
  if (!subj || subj.digest !== subject) throw new ModelsealError('REGISTRY_PROTOCOL', `its subject is not ${subject}`);
  const cfg = (j.config ?? {}) as { mediaType?: unknown };
  const artifactType = (typeof j.artifactType === 'string' ? j.artifactType : undefined) ?? d.artifactType ?? (typeof cfg.mediaType === 'string' ? cfg.mediaType : '');
  const layers = Array.isArray(j.layers) ? (j.layers as Array<Record<string, unknown>>) : [];
  const annotations = (j.annotations ?? {}) as Record<string, string>;
  const origin = `referrer ${d.digest}${via === 'fallback-tag' ? ' (fallback tag)' : ''}`;

  if (isBundleType(artifactType)) {
    const bundleLayers = layers.filter((l) => typeof l.mediaType === 'string' && isBundleType(l.mediaType));
    if (layers.length !== 1 || bundleLayers.length !== 1) throw new ModelsealError('REGISTRY_PROTOCOL', 'a bundle referrer must hold exactly one bundle layer');
    const l = bundleLayers[0]!;
    const desc = { digest: String(l.digest), size: Number(l.size) };
    // Labelled bundles are not read until a check wants their kind; unlabelled ones are classified when read.
    const kind = kindOfPredicate(annotations[ANNOTATION.bundlePredicate]) ?? 'bundle';
    const limit = kind === 'sbom' ? MAX_SBOM_BYTES : MAX_BUNDLE_BYTES;
    out.push({ kind, origin, size: desc.size, annotations, read: () => client.readBlob(repo, desc, limit) });
    return;
  }
  if (artifactType === MT.cosignLegacySig) {
    await readLegacyLayers(client, repo, j, origin, out);
    return;
  }
  if (artifactType === MT.notation) {
    // Notation (signature-specification.md): exactly one layer, the JWS or COSE envelope; its
    // media type picks the parser, so it travels with the candidate.
    const l = layers[0];
    if (layers.length !== 1 || !l || (l.mediaType !== NOTATION_ENVELOPE.jws && l.mediaType !== NOTATION_ENVELOPE.cose)) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `a Notation signature must hold exactly one ${NOTATION_ENVELOPE.jws} or ${NOTATION_ENVELOPE.cose} layer`);
    }
    const desc = { digest: String(l.digest), size: Number(l.size) };
    out.push({ kind: 'notation', origin, size: desc.size, annotations: { ...annotations, mediaType: String(l.mediaType) }, read: () => client.readBlob(repo, desc, MAX_BUNDLE_BYTES) });
    return;
  }
  if (artifactType === MT.cyclonedx || artifactType === MT.spdx || artifactType.startsWith('application/vnd.cyclonedx') || artifactType.startsWith('application/spdx')) {
    if (layers.length !== 1) throw new ModelsealError('REGISTRY_PROTOCOL', 'an SBOM referrer must hold exactly one layer');
    const l = layers[0]!;
    const desc = { digest: String(l.digest), size: Number(l.size) };
    out.push({ kind: 'sbom', origin, size: desc.size, annotations: { ...annotations, mediaType: String(l.mediaType) }, read: () => client.readBlob(repo, desc, MAX_SBOM_BYTES) });
  }
}

/** cosign legacy: one simple-signing layer per signature, the signature itself in annotations. */
async function readLegacyLayers(client: RegistryClient, repo: string, j: Record<string, unknown>, origin: string, out: SignatureCandidate[]): Promise<void> {
  const layers = Array.isArray(j.layers) ? (j.layers as Array<Record<string, unknown>>) : [];
  for (const [i, l] of layers.slice(0, MAX_REFERRERS).entries()) {
    if (l.mediaType !== MT.cosignSimpleSigning) continue;
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries((l.annotations ?? {}) as Record<string, unknown>)) if (typeof v === 'string') annotations[k] = v;
    const desc = { digest: String(l.digest), size: Number(l.size) };
    out.push({ kind: 'cosign-legacy', origin: `${origin} layer ${i}`, size: desc.size, annotations, read: () => client.readBlob(repo, desc, MAX_BUNDLE_BYTES) });
  }
}
