import { ExitCode, type ExitCodeValue, exitCodeFor, ModelsealError } from '../errors.js';
import { logDecision, type DecisionEvent } from '../log.js';
import { pull, type PullResult } from '../app/pull.js';
import { verifyOmsSignatures } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';
import type { ModelSource, SignatureCandidate } from '../stores/types.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import type { InitConfig } from './config.js';
import { allowedEvent, failedEvent, type DecisionContext } from './decision.js';
import { openInitSource, resolveInitTrust } from './wiring.js';
import { annotateDecision, traceDecision } from '../telemetry/tracing.js';
import { RunControl } from '../placement/run-control.js';
import { Progress } from '../progress/progress.js';
import { showProgress } from '../progress/display.js';

/**
 * `modelseal init`: one decision per pod start. Verify (and in pull mode, place) the model,
 * log exactly one decision line, and return the exit code; 0 only when allowed.
 */
export interface InitOutcome {
  exitCode: ExitCodeValue;
  event: DecisionEvent;
  result?: PullResult;
}

export interface InitDeps {
  trust: (cfg: InitConfig) => Promise<TrustDecision>;
  open: (cfg: InitConfig, trust?: TrustDecision) => Promise<ModelSource>;
  log: (event: DecisionEvent) => void;
  /** Listen for SIGTERM/SIGINT (the real entrypoint; in-process tests abort through `signal`). */
  signals?: boolean;
  /** An extra abort source (tests). */
  signal?: AbortSignal;
}

export const defaultInitDeps: InitDeps = { trust: resolveInitTrust, open: openInitSource, log: (e) => logDecision(e) };

export async function runInit(cfg: InitConfig, deps: InitDeps = defaultInitDeps): Promise<InitOutcome> {
  return traceDecision('init', cfg.source, () => decide(cfg, deps));
}

async function decide(cfg: InitConfig, deps: InitDeps): Promise<InitOutcome> {
  const ctx: DecisionContext = { pod: cfg.pod, reference: cfg.source, mode: cfg.mode };
  const seen = new Observed();
  let authorities: Authority[] = [];
  // Not a terminal: a JSON progress line every few seconds keeps `kubectl logs` showing a living pull.
  const progress = new Progress();
  const stopProgress = showProgress(progress, { tty: false });
  const control = new RunControl({ timeoutMs: cfg.timeoutMs, ...(cfg.stallMs ? { stallMs: cfg.stallMs } : {}) }, progress).start({
    signals: deps.signals ?? true,
  });
  deps.signal?.addEventListener('abort', () => control.abort(deps.signal!.reason), { once: true });
  try {
    const trust = await deps.trust(cfg);
    authorities = trust.authorities;
    const result = await control.run(async (signal) => pull({
      reference: cfg.source,
      source: seen.wrap(await deps.open(cfg, trust)),
      trust,
      signal,
      progress,
      // A pod restarted with its volume kept finds its model placed: re-verify, keep, exit 0.
      replace: true,
      ...(cfg.mode === 'verify-in-place' ? { inPlaceDir: cfg.path! } : { into: cfg.into }),
      ...(cfg.concurrency ? { concurrency: cfg.concurrency } : {}),
      ...(cfg.receipt ? { receiptPath: cfg.receipt } : {}),
    }));
    const event = allowedEvent(ctx, result.receipt, result.receiptPath, result.alreadyPlaced ?? false);
    annotateDecision({ outcome: event.outcome });
    deps.log(event);
    return { exitCode: ExitCode.OK, event, result };
  } catch (err) {
    const event = failedEvent(ctx, err, await seen.facts(authorities, err));
    annotateDecision({ outcome: event.outcome, ...(event.signer ? { signer: String(event.signer) } : {}) });
    deps.log(event);
    return { exitCode: exitCodeFor(err), event };
  } finally {
    // Bounded: after an abort a source may still wait on a socket; the decision is already made.
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([seen.close().catch(() => undefined), new Promise((r) => (bound = setTimeout(r, 2000)))]);
    clearTimeout(bound);
    stopProgress();
    control.dispose();
  }
}

type Known = { resolvedDigest?: string; rootDigest?: string; signer?: SignerIdentity };

/**
 * What the source told the pipeline before it failed: the resolved digest, and the signature
 * candidates, so a line blocked after the signature verified (a tampered blob) still names the signer.
 */
class Observed {
  resolvedDigest?: string;
  candidates?: SignatureCandidate[];
  private source?: ModelSource;

  wrap(source: ModelSource): ModelSource {
    this.source = source;
    return {
      resolve: async () => {
        const r = await source.resolve();
        if (r.resolvedDigest) this.resolvedDigest = r.resolvedDigest;
        return r;
      },
      signatures: async () => (this.candidates = await source.signatures()),
      list: () => source.list(),
      fetch: (wanted, sink, opts) => source.fetch(wanted, sink, opts),
      // Candidates may load their bytes lazily from the source: it stays open until facts() has run.
      close: async () => undefined,
    };
  }

  async close(): Promise<void> {
    await this.source?.close();
  }

  async facts(authorities: Authority[], err: unknown): Promise<Known> {
    const out: Known = this.resolvedDigest ? { resolvedDigest: this.resolvedDigest } : {};
    // Only re-check when the failure came after the signature (content, file set, policy): cheap, bundle-sized.
    const code = err instanceof ModelsealError ? err.exitCode : ExitCode.INTERNAL;
    if (this.candidates && authorities.length > 0 && code !== ExitCode.SIGNATURE) {
      try {
        const verified = (await verifyOmsSignatures(this.candidates, authorities)).verified[0]?.verified;
        if (verified) {
          out.signer = verified.signer;
          if (verified.rootDigest) out.rootDigest = verified.rootDigest;
        }
      } catch {
        /* the signature did not verify either; the line keeps signer null */
      }
    }
    return out;
  }
}
