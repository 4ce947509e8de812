import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Decision tracing (OpenTelemetry) behind a seam that costs nothing when off: with neither
 * `--otel-endpoint` nor OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set, no OpenTelemetry module is
 * loaded (./otel.js is imported dynamically) and `step()` just runs its function.
 *
 * One root span per decision, `weight_integrity_check`, with child spans for the pipeline's
 * stages: resolve, signature, download+hash, policy, placement.
 */

export type StepName = 'resolve' | 'signature' | 'download+hash' | 'policy' | 'placement';
export const ROOT_SPAN = 'weight_integrity_check';

/** What the root span records about the decision (set with `annotateDecision` as facts become known). */
export interface DecisionAttributes {
  outcome: 'allowed' | 'blocked' | 'failed';
  /** The model's identity: the resolved OCI manifest digest, else the OMS root digest (`sha256:…`). */
  digest: string;
  signer: string;
  bytes: number;
}

/** The live half, implemented in ./otel.js. */
export interface SpanHandle {
  child(name: string): SpanHandle;
  setAttributes(attrs: Record<string, string | number | boolean>): void;
  fail(err: unknown): void;
  end(): void;
}
export interface TraceBackend {
  root(name: string, attrs: Record<string, string | number | boolean>): SpanHandle;
  /** Export everything and release the exporter (awaited before the process exits). */
  shutdown(): Promise<void>;
}

interface Active {
  span: SpanHandle;
  /** Shared by every stage of one decision. */
  decision: Partial<DecisionAttributes>;
}
const active = new AsyncLocalStorage<Active>();
let flagEndpoint: string | undefined;

/** `--otel-endpoint` (wins over the environment). */
export function setOtelEndpoint(url: string | undefined): void {
  flagEndpoint = url;
}

/** The OTLP/HTTP traces URL, if tracing is on: a base endpoint gets `/v1/traces` (OTLP exporter spec). */
export function tracesUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const full = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = flagEndpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (flagEndpoint === undefined && full) return full;
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/** Blocked = the model was refused (exit 3–6, 8); failed = it could not be decided (exit 1, 2, 7). */
function outcomeOf(err: unknown): DecisionAttributes['outcome'] {
  const code = (err as { exitCode?: unknown })?.exitCode;
  return typeof code === 'number' && code >= 3 && code !== 7 ? 'blocked' : 'failed';
}

/**
 * Run one decision under a root span named `weight_integrity_check`. The span is exported
 * before this returns, so a short-lived init container never exits with its trace buffered.
 */
export async function traceDecision<T>(command: string, reference: string, run: () => Promise<T>): Promise<T> {
  const url = tracesUrl();
  if (!url) return run();
  const { startBackend } = await import('./otel.js');
  const backend = await startBackend(url);
  const root = backend.root(ROOT_SPAN, { 'modelseal.command': command, 'modelseal.reference': reference });
  const decision: Partial<DecisionAttributes> = {};
  let error: unknown;
  try {
    return await active.run({ span: root, decision }, run);
  } catch (err) {
    error = err;
    root.fail(err);
    throw err;
  } finally {
    const outcome = decision.outcome ?? (error === undefined ? 'allowed' : outcomeOf(error));
    const attrs: Record<string, string | number | boolean> = { 'modelseal.outcome': outcome };
    if (decision.digest) attrs['modelseal.digest'] = decision.digest;
    if (decision.signer) attrs['modelseal.signer'] = decision.signer;
    if (decision.bytes !== undefined) attrs['modelseal.bytes'] = decision.bytes;
    root.setAttributes(attrs);
    root.end();
    await backend.shutdown();
  }
}

/** Record facts of the current decision (no-op when not tracing). */
export function annotateDecision(a: Partial<DecisionAttributes>): void {
  const d = active.getStore()?.decision;
  if (d) Object.assign(d, a);
}

/** A pipeline stage: a child span of the current decision when tracing, else just `fn()`. */
export async function step<T>(name: StepName, fn: () => Promise<T>): Promise<T> {
  const cur = active.getStore();
  if (!cur) return fn();
  const span = cur.span.child(name);
  try {
    return await active.run({ span, decision: cur.decision }, fn);
  } catch (err) {
    span.fail(err);
    throw err;
  } finally {
    span.end();
  }
}
