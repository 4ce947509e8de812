import { isModelsealError } from '../errors.js';
import { isPlainObject } from '../formats/strict-json.js';
import type { CandidateKind, SignatureCandidate } from './candidate.js';
import { LEGACY_PREDICATE_TYPE, OMS_PREDICATE_TYPE } from './oms/payload.js';

/**
 * Which signature format a candidate is. A store labels what it can from media types and
 * annotations; a Sigstore bundle without a label is classified here by the predicate type of its
 * (still unverified) statement — classification only routes it to a verifier, never trusts it.
 */
export type KnownKind = Exclude<CandidateKind, 'bundle'>;

const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const SBOM_PREDICATES = new Set(['https://cyclonedx.org/bom', 'https://spdx.dev/Document']);

export function kindOfPredicate(predicateType: string | undefined): KnownKind | undefined {
  if (predicateType === OMS_PREDICATE_TYPE || predicateType === LEGACY_PREDICATE_TYPE) return 'oms';
  if (predicateType !== undefined && SBOM_PREDICATES.has(predicateType)) return 'sbom';
  if (predicateType === COSIGN_SIGN) return 'cosign-bundle';
  return undefined;
}

/** The predicate type a bundle's DSSE statement claims, without verifying anything. */
export function claimedPredicate(bytes: Uint8Array): string | undefined {
  try {
    const b = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    const env = isPlainObject(b) ? b.dsseEnvelope : undefined;
    const payload = isPlainObject(env) && typeof env.payload === 'string' ? env.payload : undefined;
    if (payload === undefined) return undefined;
    const st = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as unknown;
    return isPlainObject(st) && typeof st.predicateType === 'string' ? st.predicateType : undefined;
  } catch {
    return undefined;
  }
}

/** A bundle of unknown kind, classified from its statement; cosign when it is none of ours. */
export function classifyBundle(bytes: Uint8Array): KnownKind {
  return kindOfPredicate(claimedPredicate(bytes)) ?? 'cosign-bundle';
}

const SKIPPABLE = new Set(['REGISTRY_PROTOCOL', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'NOT_FOUND', 'BUNDLE_TOO_LARGE']);

export interface ReadCandidate {
  candidate: SignatureCandidate;
  kind: KnownKind;
  bytes: Uint8Array;
}

/**
 * The candidates of the wanted kinds, read one at a time (unlabelled bundles are read to be
 * classified and dropped when they are of another kind), so at most one unverified attachment
 * is in memory at once. A candidate whose content the store refuses (too large, wrong digest,
 * gone) is reported to `skip` and passed over; a store that cannot be reached fails the whole read.
 */
export async function* candidatesOfKind(
  candidates: readonly SignatureCandidate[],
  wanted: readonly KnownKind[],
  skip: (c: SignatureCandidate, err: unknown) => void = () => undefined,
): AsyncGenerator<ReadCandidate> {
  for (const c of candidates) {
    if (c.kind !== 'bundle' && !wanted.includes(c.kind)) continue;
    let bytes: Uint8Array;
    try {
      bytes = await c.read();
    } catch (err) {
      if (!isModelsealError(err) || !SKIPPABLE.has(err.code)) throw err;
      skip(c, err);
      continue;
    }
    const kind = c.kind === 'bundle' ? classifyBundle(bytes) : c.kind;
    if (wanted.includes(kind)) yield { candidate: c, kind, bytes };
  }
}

/**
 * Every candidate read now and labelled (for a caller that must outlive the store's connection,
 * or report every kind): small attachments only — stores bound each read.
 */
export async function readAll(candidates: readonly SignatureCandidate[]): Promise<SignatureCandidate[]> {
  const out: SignatureCandidate[] = [];
  for (const c of candidates) {
    const bytes = await c.read();
    const kind = c.kind === 'bundle' ? classifyBundle(bytes) : c.kind;
    out.push({ ...c, kind, size: bytes.length, read: async () => bytes });
  }
  return out;
}
