import { ModelsealError } from '../errors.js';
import type { Progress } from '../progress/progress.js';
import { removeLiveStagingSync } from './staging.js';

/**
 * When a pull must stop: SIGTERM/SIGINT (a pod being deleted, a person pressing Ctrl-C), the
 * whole-run deadline (`--timeout`), or a transfer that has stalled (the minimum-progress rule: a
 * registry trickling a byte every few seconds never trips an idle timeout). Each becomes the
 * abort reason of one AbortSignal that reaches the sources and the staging writer; the work then
 * has GRACE_MS to unwind (streams closed, staging removed) before the run gives up on it, removes
 * any staging still on disk synchronously, and reports the reason anyway.
 */
export interface RunLimits {
  /** Whole-run deadline in ms; undefined = none. */
  timeoutMs?: number;
  /** Stall rule: while a transfer runs, at least `stallMinBytes` must arrive in every `stallMs`. */
  stallMs?: number;
  stallMinBytes?: number;
}

export const DEFAULT_STALL_MS = 60_000;
export const DEFAULT_STALL_MIN_BYTES = 64 * 1024;
/** `modelseal init`'s default deadline: generous for a large model on a slow link, but finite so a pod never waits forever. */
export const INIT_DEFAULT_TIMEOUT_MS = 2 * 60 * 60_000;
const GRACE_MS = 3_000;
const TICK_MS = 500;

/** `90`, `90s`, `30m`, `2h` (a bare number is seconds). */
export function parseDuration(raw: string, what: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(raw.trim());
  const n = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 7 * 24 * 3_600_000) {
    throw new ModelsealError('USAGE', `${what} must be a duration such as 90s, 30m or 2h (more than 0, at most a week), not ${JSON.stringify(raw)}`);
  }
  return Math.round(n);
}

export function describeMs(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

export class RunControl {
  private readonly ac = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private handlers: Array<[NodeJS.Signals, () => void]> = [];
  private window: { start: number; bytes: number } | undefined;

  constructor(
    private readonly limits: RunLimits,
    private readonly progress?: Progress,
  ) {}

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  abort(reason: ModelsealError): void {
    if (!this.ac.signal.aborted) this.ac.abort(reason);
  }

  /** Listen for signals and start the clocks. */
  start(opts: { signals: boolean }): this {
    if (opts.signals) {
      for (const [sig, code] of [['SIGTERM', 'TERMINATED'], ['SIGINT', 'INTERRUPTED']] as const) {
        const h = () => {
          // A second signal while unwinding: stop now, still without leaving staging behind.
          if (this.ac.signal.aborted) {
            removeLiveStagingSync();
            process.exit(code === 'TERMINATED' ? 143 : 130);
          }
          this.abort(new ModelsealError(code, `terminated by ${sig}`));
        };
        process.on(sig, h);
        this.handlers.push([sig, h]);
      }
    }
    const { timeoutMs } = this.limits;
    if (timeoutMs !== undefined) {
      this.timers.push(
        setTimeout(() => this.abort(new ModelsealError('TIMEOUT', `timed out: the pull did not finish within ${describeMs(timeoutMs)} (--timeout / MODELSEAL_TIMEOUT)`)), timeoutMs),
      );
    }
    if (this.progress) this.timers.push(setInterval(() => this.checkStall(), TICK_MS));
    for (const t of this.timers) t.unref();
    return this;
  }

  private checkStall(): void {
    const p = this.progress!;
    const stallMs = this.limits.stallMs ?? DEFAULT_STALL_MS;
    const minBytes = this.limits.stallMinBytes ?? DEFAULT_STALL_MIN_BYTES;
    const now = Date.now();
    if (p.active === 0) {
      this.window = undefined;
      return;
    }
    if (!this.window) {
      this.window = { start: now, bytes: p.bytesDone };
      return;
    }
    if (now - this.window.start < stallMs) return;
    const got = p.bytesDone - this.window.bytes;
    if (got < minBytes) {
      this.abort(new ModelsealError('TIMEOUT', `stalled: ${got} bytes arrived in the last ${describeMs(stallMs)} (the minimum is ${minBytes} bytes per ${describeMs(stallMs)}; --stall-timeout)`));
    } else {
      this.window = { start: now, bytes: p.bytesDone };
    }
  }

  /**
   * Run `work` under this control. On abort the work gets GRACE_MS to unwind; then the abort
   * reason is thrown whatever the work is doing (sources without a signal, a hung resolve).
   */
  async run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = this.ac.signal;
    const p = work(signal);
    p.catch(() => undefined);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      if (signal.aborted) resolve('aborted');
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const first = await Promise.race([p.then(() => 'done' as const, () => 'failed' as const), aborted]);
      if (first === 'done') return await p;
      if (first === 'aborted') {
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([p.catch(() => undefined), new Promise((r) => (grace = setTimeout(r, GRACE_MS)))]);
        clearTimeout(grace);
        removeLiveStagingSync();
        throw signal.reason;
      }
      // The work failed: when that was the abort surfacing (AbortError, "aborted"), report the reason.
      if (signal.aborted) throw signal.reason;
      return await p;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers = [];
  }
}

/**
 * After an abort the process must end even if a source still holds a socket (a trickling
 * registry, a resolve that takes no signal): exit with the code already set, shortly after the
 * decision line and the error are written.
 */
export function exitSoonAfterAbort(control: RunControl, ms = 200): void {
  if (control.signal.aborted) setTimeout(() => process.exit(process.exitCode ?? 1), ms);
}
