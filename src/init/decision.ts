import { asModelsealError, ExitCode, type ExitCodeValue, exitCodeFor, isModelsealError, oneLine } from '../errors.js';
import type { DecisionEvent } from '../log.js';
import type { Receipt } from '../placement/receipt.js';
import type { SignerIdentity } from '../signatures/core/types.js';

/**
 * The init container's one decision line (EAAPL-SEC003 Model Isolation fields): pod and
 * namespace from the downward API, `event_type: weight_integrity_check`, an outcome, and what
 * was (or would have been) served.
 */
export const INIT_EVENT_TYPE = 'weight_integrity_check';

/** Exit codes where the check ran and said no; every other failure means it could not check. */
const BLOCKING: ReadonlySet<number> = new Set([
  ExitCode.SIGNATURE,
  ExitCode.DIGEST_MISMATCH,
  ExitCode.FILE_SET,
  ExitCode.POLICY,
  ExitCode.UNSAFE_CONTENT,
]);

export function outcomeFor(code: ExitCodeValue): DecisionEvent['outcome'] {
  if (code === ExitCode.OK) return 'allowed';
  return BLOCKING.has(code) ? 'blocked' : 'failed';
}

export function formatSigner(s: SignerIdentity): string {
  return s.issuer ? `${s.identity} (${s.issuer})` : s.identity;
}

export interface DecisionContext {
  pod: { name?: string; namespace?: string };
  reference: string;
  mode: string;
}

/**
 * Fields every line has. Unknown values are `null` rather than absent, so a log query for
 * `resolved_digest` finds the failures that never got that far.
 */
type Line = Record<string, unknown> & { outcome: DecisionEvent['outcome'] };

function base(ctx: DecisionContext): Record<string, unknown> {
  return {
    event_type: INIT_EVENT_TYPE,
    pod_name: ctx.pod.name ?? null,
    namespace: ctx.pod.namespace ?? null,
    model: ctx.reference,
    mode: ctx.mode,
  };
}

export function allowedEvent(ctx: DecisionContext, receipt: Receipt, receiptPath: string, alreadyPlaced = false): DecisionEvent {
  const line: Line = {
    ...base(ctx),
    outcome: 'allowed',
    resolved_digest: receipt.resolvedDigest ?? null,
    root_digest: receipt.model.rootDigest ?? null,
    signer: formatSigner(receipt.signer),
    signer_method: receipt.signer.method,
    placed_at: receipt.placedAt,
    receipt: receiptPath,
    files: receipt.model.files.length,
    reason: alreadyPlaced ? 'already placed; re-verified' : 'signature and every file verified',
    code: 'OK',
    exit_code: ExitCode.OK,
  };
  return line as DecisionEvent;
}

/**
 * `known` carries what the run learned before failing (the resolved digest, the signer once
 * the signature verified), so a blocked line still says which artefact and whose signature.
 */
export function failedEvent(ctx: DecisionContext, err: unknown, known: { resolvedDigest?: string; rootDigest?: string; signer?: SignerIdentity } = {}): DecisionEvent {
  const code = exitCodeFor(err);
  const details = isModelsealError(err) ? err.details : {};
  const line: Line = {
    ...base(ctx),
    outcome: outcomeFor(code),
    resolved_digest: known.resolvedDigest ?? null,
    root_digest: known.rootDigest ?? (typeof details.rootDigest === 'string' ? details.rootDigest : null),
    signer: known.signer ? formatSigner(known.signer) : null,
    reason: oneLine(err),
    code: asModelsealError(err).code,
    exit_code: code,
  };
  // File lists from the comparison report: bounded, names only.
  for (const k of ['mismatched', 'missing', 'extra'] as const) {
    const v = details[k];
    if (Array.isArray(v)) line[k] = v.slice(0, 20);
  }
  return line as DecisionEvent;
}
