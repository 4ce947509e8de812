import { ModelsealError } from '../errors.js';
import type { Manifest } from '../model/types.js';
import type { SignatureCandidate } from '../signatures/candidate.js';
import type { Authority, VerifiedModelSignature } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';
import { candidatesOfKind } from '../signatures/registry.js';

/**
 * Which OMS signature speaks for the model being pulled. A registry or bucket may hold signatures
 * for other models (an index shared by a repository, an attacker's attachment): a signature counts
 * only when it verifies AND signs exactly the files at hand. One for another model is neither
 * used nor allowed to block the right one.
 */

/** Bound on the OMS signatures considered per model: real models carry a handful. */
export const MAX_OMS_SIGNATURES = 32;

export interface VerifiedCandidate {
  candidate: SignatureCandidate;
  bytes: Uint8Array;
  verified: VerifiedModelSignature;
}

export interface Found {
  verified: VerifiedCandidate[];
  failures: unknown[];
}

/** Verify each OMS signature (read one at a time) against the trusted authorities. */
export async function verifyOmsSignatures(candidates: readonly SignatureCandidate[], authorities: Authority[]): Promise<Found> {
  const found: Found = { verified: [], failures: [] };
  let seen = 0;
  for await (const { candidate, bytes } of candidatesOfKind(candidates, ['oms'], (_c, err) => found.failures.push(err))) {
    if (++seen > MAX_OMS_SIGNATURES) break;
    try {
      found.verified.push({ candidate, bytes, verified: await verifyModelSignature(bytes, authorities) });
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      found.failures.push(err);
    }
  }
  return found;
}

/** Why no signature verified: the one failure, or the last of several (as a pull reports it). */
export function noSignature(found: Found): unknown {
  return found.failures.at(-1) ?? new ModelsealError('SIGNATURE_MISSING', 'no OMS model signature found for this model');
}

/**
 * The first verified signature whose files fit (`fit` returns the manifest as seen against the
 * files at hand, or throws the file-set/digest reason). When none fits, the first reason stands.
 */
export function chooseSignature<T>(found: Found, fit: (v: VerifiedCandidate) => T): { chosen: VerifiedCandidate; fitted: T } {
  if (found.verified.length === 0) throw noSignature(found);
  let first: unknown;
  for (const v of found.verified) {
    try {
      return { chosen: v, fitted: fit(v) };
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      first ??= err;
    }
  }
  throw first;
}

/** Same files, same digests, whatever the order (verifiers accept either resource order). */
export function sameResources(a: Manifest, b: Manifest): boolean {
  const sa = a.serialization;
  const sb = b.serialization;
  if (sa.method !== sb.method || sa.hashType !== sb.hashType || (sa.shardSize ?? 0) !== (sb.shardSize ?? 0)) return false;
  if (a.resources.length !== b.resources.length) return false;
  const want = new Map(a.resources.map((r) => [r.name, r.digest]));
  return want.size === a.resources.length && b.resources.every((r) => want.get(r.name) === r.digest);
}
