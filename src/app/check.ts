import { planForSignature } from './plan.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import { openSource, type SourceOptions } from '../stores/registry.js';
import { requireObjectLock } from '../trust/checks/index.js';
import { chooseSignature, verifyOmsSignatures } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';

/**
 * Check a published model without reading a weight byte: resolve the reference once, verify its
 * signatures against the trust decision, and refuse what the listing already disproves (missing
 * or unsigned files, raw-layer digests and sizes that differ from the signed ones). What admission
 * control needs; a pull does the same first steps and then streams and hashes every byte.
 */
export interface CheckResult {
  reference: string;
  /** The immutable digest the reference resolved to (OCI), to pin every later pull to it. */
  resolvedDigest?: string;
  rootDigest?: string;
  signer: SignerIdentity;
  /** Where the chosen signature was found. */
  origin: string;
  files: number;
  bytes: number;
}

export async function checkModel(reference: string, trust: TrustDecision, options: SourceOptions = {}): Promise<CheckResult> {
  const source = await openSource(reference, options);
  try {
    const resolved = await source.resolve();
    const candidates = await source.signatures();
    const found = await verifyOmsSignatures(candidates, trust.authorities);
    const entries = await source.list();
    const { chosen, fitted } = chooseSignature(found, (v) => planForSignature(v, entries, resolved, trust).wanted);
    if (trust.requirements.requireObjectLock) requireObjectLock(fitted, reference);
    const v = chosen.verified;
    return {
      reference,
      ...(resolved.resolvedDigest ? { resolvedDigest: resolved.resolvedDigest } : {}),
      ...(v.rootDigest ? { rootDigest: v.rootDigest } : {}),
      signer: v.signer,
      origin: chosen.candidate.origin,
      files: fitted.length,
      bytes: fitted.reduce((n, e) => n + (e.size ?? 0), 0),
    };
  } finally {
    await source.close();
  }
}
