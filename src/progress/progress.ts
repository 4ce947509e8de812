/**
 * What a long transfer has done so far, for the person watching (a TTY bar), for `kubectl logs`
 * (a JSON line every few seconds) and for the stall watchdog (bytes moved while transfers run).
 * Counting only; displays subscribe in ./display.ts.
 */
export interface ProgressSnapshot {
  phase: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last RATE_WINDOW_MS (0 until there is a sample). */
  rate: number;
  /** Seconds left at the current rate, or undefined when unknown. */
  etaSeconds?: number;
  elapsedMs: number;
}

const RATE_WINDOW_MS = 5_000;

export class Progress {
  phase = 'starting';
  filesDone = 0;
  filesTotal = 0;
  bytesDone = 0;
  bytesTotal = 0;
  /** Transfers in flight: the stall rule only applies while something should be arriving. */
  active = 0;
  private readonly started = Date.now();
  private samples: Array<{ t: number; bytes: number }> = [];
  private listeners = new Set<(event: 'begin' | 'update' | 'end') => void>();

  constructor(private readonly now: () => number = Date.now) {}

  on(listener: (event: 'begin' | 'update' | 'end') => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: 'begin' | 'update' | 'end'): void {
    for (const l of this.listeners) l(event);
  }

  /** A phase with known totals begins (`download`, `verify`, `upload`). */
  begin(phase: string, filesTotal: number, bytesTotal: number): void {
    Object.assign(this, { phase, filesTotal, bytesTotal, filesDone: 0, bytesDone: 0 });
    this.samples = [{ t: this.now(), bytes: 0 }];
    this.emit('begin');
  }

  add(bytes: number): void {
    this.bytesDone += bytes;
    const t = this.now();
    const last = this.samples[this.samples.length - 1];
    if (!last || t - last.t >= 250) this.samples.push({ t, bytes: this.bytesDone });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    this.emit('update');
  }

  fileDone(): void {
    this.filesDone++;
    this.emit('update');
  }

  transferStarted(): void {
    this.active++;
  }

  transferEnded(): void {
    this.active = Math.max(0, this.active - 1);
  }

  end(): void {
    this.emit('end');
  }

  snapshot(): ProgressSnapshot {
    const t = this.now();
    const first = this.samples[0];
    const span = first ? t - first.t : 0;
    const rate = first && span > 0 ? ((this.bytesDone - first.bytes) * 1000) / span : 0;
    const left = this.bytesTotal - this.bytesDone;
    return {
      phase: this.phase,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      rate,
      ...(rate > 0 && left >= 0 ? { etaSeconds: Math.ceil(left / rate) } : {}),
      elapsedMs: t - this.started,
    };
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
