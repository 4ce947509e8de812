import type { KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { parseStrictJson } from '../../formats/strict-json.js';
import { keyIdentity } from '../core/key-ids.js';
import type { SignatureCandidate } from '../candidate.js';
import { candidatesOfKind } from '../registry.js';
import { verifyStatementBundle } from '../blob/verify.js';
import { verifyChainSignature } from '../core/certificate.js';
import { ANNOTATION, legacyChain, legacyKeylessBundle } from './legacy.js';
import { ecCurveOf, publicKeyOf, verifyEcdsa } from '../core/ecdsa-curves.js';
import { verifyKeylessBundle } from '../core/sigstore-verify.js';
import type { Authority, SignerIdentity } from '../core/types.js';
import { onlyNotationSignatures } from '../notation/only-notation.js';

/**
 * cosign signatures over an OCI manifest digest (signing-formats.md §2). A cosign signature only
 * counts if it binds the digest that was actually pulled: v3 bundles through the in-toto
 * statement subject, legacy `.sig` layers through `critical.image.docker-manifest-digest`.
 */

export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const LEGACY_TYPE = 'cosign container image signature';

export interface VerifiedCosignSignature {
  kind: 'cosign-bundle' | 'cosign-legacy';
  origin: string;
  signer: SignerIdentity;
}

function hexOf(manifestDigest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(manifestDigest);
  if (!m) throw new ModelsealError('USAGE', `not a sha256 manifest digest: ${manifestDigest}`);
  return m[1]!;
}

/** v3: DSSE statement, predicate cosign/sign/v1, one subject whose sha256 is the pulled manifest. */
async function verifyV3(c: SignatureCandidate, bytes: Uint8Array, hex: string, authorities: Authority[]): Promise<SignerIdentity> {
  const { statement, signer } = await verifyStatementBundle(bytes, authorities);
  const s = statement as { predicateType?: unknown; subject?: Array<{ digest?: Record<string, unknown> }> };
  if (s.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new ModelsealError('PAYLOAD_INVALID', `cosign bundle predicateType ${JSON.stringify(s.predicateType)} is not ${COSIGN_SIGN_PREDICATE}`);
  }
  const subjects = Array.isArray(s.subject) ? s.subject : [];
  if (!subjects.some((sub) => sub?.digest?.sha256 === hex)) {
    throw new ModelsealError('SUBJECT_MISMATCH', `cosign signature (${c.origin}) is for another digest, not sha256:${hex}`);
  }
  return signer;
}

/**
 * Legacy `.sig`: simple-signing payload + base64 signature annotation. A key authority checks the
 * signature with its keys; a certificate authority needs the layer's chain to reach an anchor; a
 * sigstore authority needs the full keyless proof (Fulcio chain, Rekor SET, identity).
 */
function verifyLegacy(c: SignatureCandidate, bytes: Uint8Array, hex: string, authorities: Authority[]): SignerIdentity {
  let payload: unknown;
  try {
    payload = parseStrictJson(Buffer.from(bytes).toString('utf8'), 'cosign payload');
  } catch (err) {
    throw new ModelsealError('PAYLOAD_INVALID', `cosign payload is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const critical = (payload as { critical?: { type?: unknown; image?: Record<string, unknown> } }).critical;
  if (critical?.type !== LEGACY_TYPE) throw new ModelsealError('PAYLOAD_INVALID', `cosign payload critical.type is not "${LEGACY_TYPE}"`);
  // Lower-case key: the spec's `Docker-manifest-digest` spelling is not what cosign writes.
  if (critical.image?.['docker-manifest-digest'] !== `sha256:${hex}`) {
    throw new ModelsealError('SUBJECT_MISMATCH', `cosign signature (${c.origin}) names ${String(critical.image?.['docker-manifest-digest'])}, not sha256:${hex}`);
  }
  const annotations = c.annotations ?? {};
  const sigB64 = annotations[ANNOTATION.signature];
  if (!sigB64) throw new ModelsealError('SIGNATURE_INVALID', `cosign layer (${c.origin}) has no ${ANNOTATION.signature} annotation`);
  const sig = Buffer.from(sigB64, 'base64');
  const payloadBytes = Buffer.from(bytes);
  const signedBy = (key: KeyObject, s: Buffer) => verifyEcdsa(publicKeyOf(key), payloadBytes, s);
  const reasons: string[] = [];
  for (const a of authorities) {
    try {
      const who = verifyLegacyWith(a, payloadBytes, annotations, sig, signedBy);
      return { ...who, ...(a.name === undefined ? {} : { authority: a.name }) };
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      reasons.push(err.message);
    }
  }
  throw new ModelsealError(reasons.length ? 'UNTRUSTED_SIGNER' : 'CONFIG_INVALID', `cosign legacy signature (${c.origin}): ${reasons.join('; ') || 'no trusted authority configured'}`);
}

function verifyLegacyWith(a: Authority, payload: Buffer, annotations: Record<string, string>, sig: Buffer, signedBy: (k: KeyObject, s: Buffer) => boolean): SignerIdentity {
  switch (a.kind) {
    case 'key':
      for (const key of a.publicKeys) {
        ecCurveOf(key);
        if (signedBy(key, sig)) return { method: 'key', identity: keyIdentity(key) };
      }
      throw new ModelsealError('SIGNATURE_INVALID', `signature does not verify with key(s) ${a.publicKeys.map(keyIdentity).join(', ')}`);
    case 'certificate': {
      const chain = legacyChain(annotations);
      if (chain.length === 0) throw new ModelsealError('UNTRUSTED_SIGNER', 'the layer carries no certificate for a certificate authority to check');
      return verifyChainSignature(chain, a.anchors, (key) => signedBy(key, sig));
    }
    case 'sigstore':
      return verifyKeylessBundle(legacyKeylessBundle(payload, annotations), a, signedBy);
    case 'notation':
      return onlyNotationSignatures('cosign');
  }
}

/**
 * Verifies every cosign candidate; returns those that verified for `manifestDigest`. Failures
 * are not thrown per candidate (an attacker can always attach junk); the policy decides whether
 * an empty result is fatal. Only if none verifies and `throwIfNone` is set does the last reason
 * surface.
 */
export async function verifyCosignSignatures(
  candidates: SignatureCandidate[],
  manifestDigest: string,
  authorities: Authority[],
  opts: { throwIfNone?: boolean } = {},
): Promise<VerifiedCosignSignature[]> {
  const hex = hexOf(manifestDigest);
  const out: VerifiedCosignSignature[] = [];
  let last: unknown;
  const skipped = (_c: SignatureCandidate, err: unknown) => (last = err);
  for await (const { candidate: c, kind, bytes } of candidatesOfKind(candidates, ['cosign-bundle', 'cosign-legacy'], skipped)) {
    try {
      const signer = kind === 'cosign-bundle' ? await verifyV3(c, bytes, hex, authorities) : verifyLegacy(c, bytes, hex, authorities);
      out.push({ kind: kind as VerifiedCosignSignature['kind'], origin: c.origin, signer });
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      last = err;
    }
  }
  if (out.length === 0 && opts.throwIfNone) {
    throw last ?? new ModelsealError('SIGNATURE_MISSING', `no cosign signature found for ${manifestDigest}`);
  }
  return out;
}
