import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../src/app/pull.js';
import { createS3Source } from '../../src/stores/s3/index.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../harness/fault-proxy.js';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { tempDir } from '../harness/process.js';
import { createBucket, makeModel, s3opts, type ModelFixture } from '../stores/s3/helpers.js';
import { publishSigned, trusted } from '../stores/s3/signed.js';
import { trustOf } from '../helpers/trust.js';
import { leftovers, rng, visibleFiles } from './world.js';

/**
 * The cut/reset loop against the real S3 server (moto) through the TCP fault proxy: every pull
 * ends verified-correct or cleanly failed (exit 7), nothing unverified is placed, no staging stays.
 */
let moto: MotoServer;
let proxy: FaultProxy;
let model: ModelFixture;
const url = 's3://faults/model';

beforeAll(async () => {
  process.env.MODELSEAL_LOG_LEVEL = 'warn';
  [moto, model] = await Promise.all([startMoto(), makeModel(1536 * 1024 + 11)]);
  await createBucket(moto, { Bucket: 'faults' });
  await publishSigned(model, url, s3opts(moto));
  proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(moto.endpoint).port) });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
  await model?.cleanup();
});


describe('connection cuts and resets through the fault proxy (S3 on moto)', () => {
  it('100 faults at random offsets: verified-correct or cleanly failed; 0 corrupt files placed', async () => {
    const next = rng(0xc0ffee);
    const vol = await tempDir('s3faults');
    const into = path.join(vol, 'model');
    const total = model.files.reduce((n, f) => n + f.size, 0);
    const outcomes = { allowed: 0, failed: 0 };
    let runs = 0;
    let unverified = 0;
    const opts = s3opts({ ...moto, endpoint: `http://127.0.0.1:${proxy.port}` }, { partSize: 256 * 1024, parallelParts: 2 });
    for (; runs < 240 && proxy.stats.cuts + proxy.stats.resets < 100; runs++) {
      proxy.setPlan((): Fault => {
        if (next() >= 0.4) return { kind: 'pass' };
        const after = next() < 0.34 ? Math.floor(next() * 2048) : Math.floor(next() * total * 0.3);
        return { kind: next() < 0.5 ? 'cut' : 'reset', after };
      });
      try {
        await pull({ reference: url, source: createS3Source(url, opts), trust: trustOf(trusted), into, replace: true, concurrency: 2 });
        outcomes.allowed++;
        const placed = await visibleFiles(into);
        for (const [rel, buf] of model.bytes) expect(placed.get(rel)?.equals(buf), rel).toBe(true);
      } catch (err) {
        outcomes.failed++;
        expect((err as { exitCode?: number }).exitCode, String(err)).toBe(7);
      }
      const placed = await visibleFiles(into);
      for (const [rel, buf] of placed) if (!model.bytes.get(rel)?.equals(buf)) unverified += buf.length;
      expect(await leftovers(vol)).toEqual([]);
    }
    proxy.setPlan(() => ({ kind: 'pass' }));
    const fired = proxy.stats.cuts + proxy.stats.resets;
    console.log(`FAULTS s3: runs=${runs} faults fired=${fired} (cuts ${proxy.stats.cuts}, resets ${proxy.stats.resets}) outcomes=${JSON.stringify(outcomes)} unverified bytes placed=${unverified}`);
    expect(fired).toBeGreaterThanOrEqual(100);
    expect(unverified).toBe(0);
  }, 600_000);
});
