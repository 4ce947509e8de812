/**
 * A byte-rate cap for re-hashing, so the watcher never starves the model server's reads.
 * Token bucket with debt: `take(n)` always grants, then sleeps until the bucket is back to
 * zero, so by any moment t the bytes granted are at most `burst + rate × (t − start)`.
 * The clock is injectable: tests check that accounting without timing anything.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class ByteRateLimiter {
  private tokens: number;
  private last: number;
  /** Totals for /metrics-style reporting and tests. */
  grantedBytes = 0;
  sleptMs = 0;

  constructor(
    readonly bytesPerSecond: number,
    readonly burstBytes: number,
    private readonly clock: Clock = realClock,
  ) {
    if (!(bytesPerSecond > 0) || !(burstBytes > 0)) throw new RangeError('rate and burst must be positive');
    this.tokens = burstBytes;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
  }

  async take(n: number): Promise<void> {
    this.refill();
    this.tokens -= n;
    this.grantedBytes += n;
    if (this.tokens < 0) {
      const ms = (-this.tokens * 1000) / this.bytesPerSecond;
      this.sleptMs += ms;
      await this.clock.sleep(ms);
      this.refill();
    }
  }
}

/** `64MiB`, `10MB`, `1048576` → bytes. */
export function parseByteSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(v.trim());
  if (!m) throw new RangeError(`not a byte size: ${JSON.stringify(v)}`);
  const mult: Record<string, number> = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };
  return Math.floor(Number(m[1]) * mult[m[2] ?? 'B']!);
}
