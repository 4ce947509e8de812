import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteRateLimiter, parseByteSize, type Clock } from '../../src/watch/rate.js';
import { rehashFile } from '../../src/watch/rehash.js';
import { tempDir } from '../harness/process.js';
import { bytes, sha256 } from '../helpers/model.js';

/**
 * The read-rate cap, on a virtual clock: bytes granted by any moment never exceed
 * burst + rate × elapsed. Accounting only; nothing here measures wall time.
 */
function virtualClock(): Clock & { t: number; samples: Array<{ t: number; granted: number }>; limiter?: ByteRateLimiter } {
  const c = {
    t: 0,
    samples: [] as Array<{ t: number; granted: number }>,
    limiter: undefined as ByteRateLimiter | undefined,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
      c.samples.push({ t: c.t, granted: c.limiter!.grantedBytes });
    },
  };
  return c;
}

describe('ByteRateLimiter', () => {
  it('re-hashing a 3 MiB file at 1 MiB/s with a 256 KiB burst: every byte accounted, never ahead of the cap', async () => {
    const dir = await tempDir('rate');
    const data = bytes(3 * 1024 * 1024 + 12345, 5);
    await writeFile(path.join(dir, 'w.bin'), data);
    const clock = virtualClock();
    const rate = 1024 * 1024;
    const burst = 256 * 1024;
    const limiter = (clock.limiter = new ByteRateLimiter(rate, burst, clock));
    const bad = await rehashFile(dir, 'w.bin', { size: data.length, ranges: [{ name: 'w.bin', start: 0, end: -1, digest: sha256(data) }] }, 'sha256', limiter, 64 * 1024);
    expect(bad).toBeUndefined();
    expect(limiter.grantedBytes).toBe(data.length);
    expect(clock.samples.length).toBeGreaterThan(10);
    for (const s of clock.samples) expect(s.granted).toBeLessThanOrEqual(burst + (rate * s.t) / 1000 + 1e-6);
    // …and it does not idle either: the virtual time spent is what the cap demands, no more.
    expect(clock.t).toBeCloseTo(((data.length - burst) / rate) * 1000, 0);
  });

  it('shard ranges are hashed separately and a changed range is named', async () => {
    const dir = await tempDir('rate');
    const data = bytes(100_000, 6);
    await writeFile(path.join(dir, 'w.bin'), data);
    const clock = virtualClock();
    const limiter = (clock.limiter = new ByteRateLimiter(1e6, 1e6, clock));
    const ranges = [
      { name: 'w.bin:0:60000', start: 0, end: 60_000, digest: sha256(data.subarray(0, 60_000)) },
      { name: 'w.bin:60000:100000', start: 60_000, end: 100_000, digest: '0'.repeat(64) },
    ];
    const bad = await rehashFile(dir, 'w.bin', { size: data.length, ranges }, 'sha256', limiter, 8192);
    expect(bad).toEqual({ file: 'w.bin', resource: 'w.bin:60000:100000', expected: '0'.repeat(64), actual: sha256(data.subarray(60_000)) });
  });

  it('a size change is caught before any byte is read', async () => {
    const dir = await tempDir('rate');
    await writeFile(path.join(dir, 'w.bin'), bytes(10, 1));
    const clock = virtualClock();
    const limiter = (clock.limiter = new ByteRateLimiter(1e6, 1e6, clock));
    const bad = await rehashFile(dir, 'w.bin', { size: 11, ranges: [{ name: 'w.bin', start: 0, end: -1, digest: 'x' }] }, 'sha256', limiter, 8192);
    expect(bad).toMatchObject({ expected: '11 bytes', actual: '10 bytes' });
    expect(limiter.grantedBytes).toBe(0);
  });

  it('parses sizes and refuses nonsense', () => {
    expect(parseByteSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('10MB')).toBe(10_000_000);
    expect(parseByteSize('4096')).toBe(4096);
    expect(() => parseByteSize('fast')).toThrow(/not a byte size/);
    expect(() => new ByteRateLimiter(0, 1)).toThrow(RangeError);
  });
});
