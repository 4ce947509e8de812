import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionEvent } from '../../src/log.js';
import { loadInitConfig } from '../../src/init/config.js';
import { defaultInitDeps, runInit } from '../../src/init/run.js';
import type { Fault } from '../harness/fault-proxy.js';
import { tempDir } from '../harness/process.js';
import { sha256 } from '../helpers/model.js';
import { initEnv, startCli } from './cli-process.js';
import { leftovers, rng, startPodsWorld, unverifiedBytes, visibleFiles, type PodsWorld } from './world.js';

/**
 * Faults at scale, bounded and on loopback: connection cuts and resets at random offsets through
 * the fault proxy, and kill -9 at random moments. After each: the target holds only signed bytes
 * (a placed model matches its receipt exactly), and the next run converges leaving nothing behind.
 * Figures are printed for the closing note.
 */
let world: PodsWorld;
const mounts: string[] = [];

beforeAll(async () => {
  // In-process runs: keep progress lines out of the test output (decision lines are captured).
  process.env.MODELSEAL_LOG_LEVEL = 'warn';
  world = await startPodsWorld();
}, 120_000);

afterAll(async () => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  await world?.stop();
});


/** The target holds only signed bytes, and when a receipt is there, exactly the model it names. */
async function assertTargetSound(into: string, receiptPath: string): Promise<{ which?: 'a' | 'b'; unverified: number }> {
  const files = await visibleFiles(into);
  const bad = unverifiedBytes(files, world.signed);
  const receipt = await readFile(receiptPath, 'utf8').then((t) => JSON.parse(t) as { reference: string }, () => undefined);
  let which: 'a' | 'b' | undefined;
  if (receipt) {
    which = receipt.reference.endsWith(':a') ? 'a' : 'b';
    const want = world.files[which];
    expect([...files.keys()].sort()).toEqual(Object.keys(want).sort());
    for (const [p, b] of Object.entries(want)) expect(sha256(files.get(p)!)).toBe(sha256(b));
  }
  return { ...(which ? { which } : {}), unverified: bad.reduce((n, b) => n + b.bytes, 0) };
}

describe('connection cuts and resets through the fault proxy (registry)', () => {
  it('100 faults at random offsets: every pull ends verified-correct or cleanly failed; 0 corrupt files placed', async () => {
    const next = rng(0x5eed12);
    const vol = await tempDir('faults');
    const into = path.join(vol, 'model');
    const outcomes = { allowed: 0, failed: 0, blocked: 0 };
    let runs = 0;
    let unverified = 0;
    const modelBytes = Object.values(world.files.a).reduce((n, b) => n + b.length, 0);
    try {
      for (; runs < 160 && world.proxy.stats.cuts + world.proxy.stats.resets < 100; runs++) {
        const which = runs % 2 === 0 ? 'a' : 'b';
        // Each connection (manifest, signature, blobs; retries included) fails with probability 0.5
        // at a random offset into its answer (a third within the first 4 KiB: headers, manifests,
        // bundles); some pulls see several faults and run out of retries.
        world.proxy.setPlan((): Fault => {
          if (next() >= 0.5) return { kind: 'pass' };
          const after = next() < 0.34 ? Math.floor(next() * 4096) : Math.floor(next() * modelBytes * 0.5);
          return { kind: next() < 0.5 ? 'cut' : 'reset', after };
        });
        const events: DecisionEvent[] = [];
        const cfg = await loadInitConfig({}, initEnv({ MODELSEAL_SOURCE: world.viaProxy[which], MODELSEAL_INTO: into, MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true' }), () => false);
        const out = await runInit(cfg, { ...defaultInitDeps, signals: false, log: (e) => events.push(e) });
        expect(events).toHaveLength(1);
        outcomes[out.event.outcome]++;
        const sound = await assertTargetSound(into, `${into}.receipt.json`);
        unverified += sound.unverified;
        if (out.exitCode === 0) expect(sound.which).toBe(which);
        else expect(out.exitCode, String(out.event.reason)).toBe(7);
        expect(await leftovers(vol)).toEqual([]);
      }
    } finally {
      world.proxy.setPlan(() => ({ kind: 'pass' }));
    }
    const fired = world.proxy.stats.cuts + world.proxy.stats.resets;
    console.log(`FAULTS registry: runs=${runs} faults fired=${fired} (cuts ${world.proxy.stats.cuts}, resets ${world.proxy.stats.resets}) outcomes=${JSON.stringify(outcomes)} unverified bytes placed=${unverified}`);
    expect(fired).toBeGreaterThanOrEqual(100);
    expect(unverified).toBe(0);
    expect(outcomes.blocked).toBe(0);
  }, 900_000);
});

describe('kill -9 at random moments', () => {
  it('50 kills across both layouts: never unverified bytes in the target; the next run converges and leaves no staging', async () => {
    const next = rng(0x9e3779b9);
    const vol = await tempDir('kills');
    const mnt = await tempDir('kills-mnt');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
    mounts.push(mnt);
    const targets = [
      { into: path.join(vol, 'model'), home: vol, receipt: path.join(vol, 'model.receipt.json') },
      { into: mnt, home: mnt, receipt: path.join(mnt, '.modelseal-receipt.json') },
    ];
    // Slow enough that a kill lands in every phase: start-up, resolve, download, swap, receipt.
    world.proxy.setPlan(() => ({ kind: 'throttle', bytesPerSecond: 2 * 1024 * 1024 }));
    const figures = { kills: 0, killedBeforeExit: 0, killedWithStaging: 0, convergeRuns: 0, unverified: 0, leftoverAfterConverge: 0 };
    /** The model the target does not hold now, so every killed run has a download and a swap to interrupt. */
    const other = async (t: (typeof targets)[number]): Promise<'a' | 'b'> =>
      (await readFile(t.receipt, 'utf8').then((x) => (JSON.parse(x) as { reference: string }).reference.endsWith(':a'), () => false)) ? 'b' : 'a';
    const run = (t: (typeof targets)[number], which: 'a' | 'b') =>
      startCli(['init'], initEnv({ MODELSEAL_SOURCE: world.viaProxy[which], MODELSEAL_INTO: t.into, MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true' }), false);
    try {
      // Kill moments scale with how long a whole run takes on this machine now (2 shared cores vary a lot).
      let full = 0;
      for (const t of targets) {
        const t0 = Date.now();
        expect((await run(t, 'a').done).code).toBe(0);
        full = Math.max(full, Date.now() - t0);
      }
      for (let i = 0; i < 50; i++) {
        const t = targets[i % 2]!;
        const which = await other(t);
        const r = run(t, which);
        if (i % 2 === 0) {
          // Any moment of the run: start-up, resolve, download, swap, receipt.
          await new Promise((res) => setTimeout(res, Math.floor(full * next())));
        } else {
          // Once bytes are arriving in staging: mid-transfer, verification, swap.
          const t0 = Date.now();
          while (r.child.exitCode === null && Date.now() - t0 < 2 * full && !(await leftovers(t.home)).some((n) => n.includes('staging'))) {
            await new Promise((res) => setTimeout(res, 20));
          }
          await new Promise((res) => setTimeout(res, Math.floor(next() * 600)));
        }
        if (r.child.exitCode === null) {
          r.child.kill('SIGKILL');
          figures.killedBeforeExit++;
        }
        await r.done;
        figures.kills++;
        if ((await leftovers(t.home)).some((n) => n.includes('staging'))) figures.killedWithStaging++;
        figures.unverified += (await assertTargetSound(t.into, t.receipt)).unverified;
        if (i % 10 === 9 || i >= 48) {
          const conv = await run(t, which).done;
          figures.convergeRuns++;
          expect(conv.code, conv.stderr).toBe(0);
          expect((await assertTargetSound(t.into, t.receipt)).which).toBe(which);
          const left = await leftovers(t.home);
          figures.leftoverAfterConverge += left.length;
          expect(left).toEqual([]);
        }
      }
    } finally {
      world.proxy.setPlan(() => ({ kind: 'pass' }));
    }
    console.log(`FAULTS kill -9: ${JSON.stringify(figures)}`);
    expect(figures.unverified).toBe(0);
    expect(figures.killedBeforeExit).toBeGreaterThanOrEqual(40);
    // The kills must land mid-transfer often, not only before the download starts.
    expect(figures.killedWithStaging).toBeGreaterThanOrEqual(10);
  }, 900_000);
});
