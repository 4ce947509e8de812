import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OwnerLock, ownerGone, STALE_AFTER_MS, type Owner } from '../../src/placement/owner-lock.js';
import { Placement } from '../../src/placement/staging.js';
import { tempDir } from '../harness/process.js';

/** The owner lock decides which leftovers are a dead run's: by process identity first, age only across machines. */
async function myOwner(file: string): Promise<Owner> {
  const lock = await OwnerLock.acquire(file);
  const o = JSON.parse(await readFile(file, 'utf8')) as Owner;
  await lock.release();
  return o;
}

describe('owner lock', () => {
  it('a live owner (this process) holds the target: a second run is refused with who holds it', async () => {
    const dir = await tempDir('lock');
    const lock = await OwnerLock.acquire(path.join(dir, 'x.lock'));
    try {
      await expect(OwnerLock.acquire(path.join(dir, 'x.lock'))).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining(`pid ${process.pid}`) });
    } finally {
      await lock.release();
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('an exited process, a reused pid (other start time), an unreadable lock, an earlier container: gone', async () => {
    const dir = await tempDir('lock');
    const me = await myOwner(path.join(dir, 'probe.lock'));
    const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    expect(await ownerGone({ ...me, pid: Number(exited.stdout) })).toMatch(/is gone/);
    expect(await ownerGone({ ...me, startTime: '1' })).toMatch(/is gone/);
    expect(await ownerGone(me)).toBeUndefined();
    expect(await ownerGone({ ...me, pidNamespace: 'pid:[1]' })).toMatch(/earlier container/);
    // Another machine sharing the volume: only the heartbeat's age can tell.
    const remote = { ...me, bootId: 'other-boot', host: 'other-node' };
    expect(await ownerGone({ ...remote, heartbeat: Date.now() })).toBeUndefined();
    expect(await ownerGone({ ...remote, heartbeat: Date.now() - STALE_AFTER_MS - 1000 })).toMatch(/not been heard from/);
    await writeFile(path.join(dir, 'torn.lock'), '{"pid": 12');
    const taken = await OwnerLock.acquire(path.join(dir, 'torn.lock'));
    expect(JSON.parse(await readFile(path.join(dir, 'torn.lock'), 'utf8')).pid).toBe(process.pid);
    await taken.release();
  });

  it('a dead run\'s staging and half-swapped old model are removed by the next run; a live run\'s are not touched', async () => {
    const vol = await tempDir('reclaim');
    const target = path.join(vol, 'model');
    const me = await myOwner(path.join(vol, 'probe.lock'));
    const dead = { ...me, startTime: '1' };
    await writeFile(path.join(vol, '.modelseal-model.lock'), JSON.stringify(dead));
    await mkdir(path.join(vol, '.modelseal-staging-model-abc123/tokenizer'), { recursive: true });
    await writeFile(path.join(vol, '.modelseal-staging-model-abc123/weights.dat'), 'partial');
    await mkdir(path.join(vol, '.modelseal-old-model-def456'));
    await mkdir(path.join(vol, 'other-model'));
    const p = await Placement.open(target, { refuseNonEmpty: true });
    expect((await readdir(vol)).sort()).toEqual(['.modelseal-model.lock', 'other-model']);
    // Held by us now: a second placement into the same target is refused and removes nothing.
    await mkdir(path.join(vol, '.modelseal-staging-model-live'));
    await expect(Placement.open(target, { refuseNonEmpty: true })).rejects.toMatchObject({ code: 'IO' });
    expect(await readdir(vol)).toContain('.modelseal-staging-model-live');
    await p.release();
  });
});
