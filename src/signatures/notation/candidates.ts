import { ModelsealError } from '../../errors.js';
import { manifestDescriptor, type ResolvedSource } from '../../stores/types.js';
import type { SignatureCandidate } from '../candidate.js';
import type { Authority, NotationAuthority, SignerIdentity } from '../core/types.js';
import { verifyNotationSignature } from './verify.js';
import type { NotationSubject } from './payload.js';

export interface VerifiedNotationSignature {
  origin: string;
  signer: SignerIdentity;
}

/** The descriptor a Notation signature must name: the manifest the OCI source resolved and pulled. */
export function notationSubject(resolved: ResolvedSource): NotationSubject {
  const d = manifestDescriptor(resolved);
  if (!d) throw new ModelsealError('POLICY_VIOLATION', 'Notation signatures exist only for OCI artefacts (no resolved manifest descriptor)');
  return d;
}

/**
 * Verifies every Notation candidate against the Notation authorities; returns those that
 * verified (ANY passing signature verifies the artefact, as notation-go). Junk referrers are
 * not fatal per candidate; with `throwIfNone` an empty result throws the last reason.
 */
export async function verifyNotationSignatures(
  candidates: SignatureCandidate[],
  subject: NotationSubject,
  authorities: Authority[],
  opts: { throwIfNone?: boolean } = {},
): Promise<VerifiedNotationSignature[]> {
  const notation = authorities.filter((a): a is NotationAuthority => a.kind === 'notation');
  const out: VerifiedNotationSignature[] = [];
  let last: unknown;
  for (const c of candidates) {
    if (c.kind !== 'notation') continue;
    for (const a of notation) {
      try {
        const signer = await verifyNotationSignature({ envelope: await c.read(), mediaType: c.annotations?.mediaType ?? '' }, subject, a);
        out.push({ origin: c.origin, signer });
        break;
      } catch (err) {
        if (!(err instanceof ModelsealError)) throw err;
        last = err;
      }
    }
  }
  if (out.length === 0 && opts.throwIfNone) {
    if (notation.length === 0) throw new ModelsealError('CONFIG_INVALID', 'a Notation signature is required but no Notation authority is configured');
    throw last ?? new ModelsealError('SIGNATURE_MISSING', `no Notation signature found for ${subject.digest}`);
  }
  return out;
}
