import { chmod, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../src/app/pull.js';
import { trustOf } from '../helpers/trust.js';
import { NodeCache } from '../../src/cache/node-cache.js';
import { FileLock } from '../../src/cache/lock.js';
import { createOciSource } from '../../src/stores/oci/source.js';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { bytes, sha256 } from '../helpers/model.js';
import { clientFor } from '../stores/oci/helpers.js';
import { blobGets, publishModel, startFleet, WEIGHT, type Fleet } from '../stores/mirrors/setup.js';

/** The node-level verified cache against a real registry, blob GETs counted in front of it. */
describe('node-level verified cache', () => {
  let f: Fleet;
  let pubKey: string;

  beforeAll(async () => {
    f = await startFleet();
    pubKey = path.join(await tempDir('cache-keys'), 'k.pub');
    await writeFile(pubKey, f.key.publicKey.export({ type: 'spki', format: 'pem' }));
  }, 60_000);
  afterAll(async () => f?.stop());

  async function pullInto(ref: string, cache: NodeCache) {
    const into = path.join(await tempDir('cache-pull'), 'model');
    const source = createOciSource(ref, await clientFor(f.origin));
    const res = await pull({ reference: ref, source, trust: trustOf(f.authorities), into, cache });
    return { res, into };
  }

  it('two concurrent pulls (two processes) of one model into two targets on one cache fetch each blob once', async () => {
    const m = await publishModel(f, 'cache/concurrent', 31);
    const cacheDir = path.join(await tempDir('node-cache'), 'cache');
    const parent = await tempDir('cache-targets');
    const args = (into: string) => ['pull', m.ref, '--into', path.join(parent, into), '--public-key', pubKey, '--plain-http', '--cache', cacheDir, '--json'];
    const [a, b] = await Promise.all([runCli(args('a')), runCli(args('b'))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    for (const blob of [sha256(WEIGHT(31)), sha256(bytes(50_000, 32))]) expect(blobGets(f.originFront, blob)).toBe(1);
    for (const t of ['a', 'b']) expect(sha256(await readFile(path.join(parent, t, 'w.bin')))).toBe(sha256(WEIGHT(31)));
    // One pull fetched from the registry, the other took every file from the cache (and said so).
    const froms = [a, b].map((r) => Object.values((JSON.parse(r.stdout) as { receipt: { delivery?: { files: Record<string, { from: string }> } } }).receipt.delivery?.files ?? {}).map((x) => x.from));
    expect(froms.some((x) => x.length === 3 && x.every((v) => v === 'cache'))).toBe(true);
    expect(await readdir(path.join(cacheDir, 'locks'))).toEqual([]);
  });

  it('a warm cache serves a second pull without any blob GET; link mode places the cached inode', async () => {
    const m = await publishModel(f, 'cache/warm', 33);
    const cache = await NodeCache.open({ dir: path.join(await tempDir('node-cache'), 'c') });
    await pullInto(m.ref, cache);
    const before = blobGets(f.originFront, sha256(WEIGHT(33)));
    const { res, into } = await pullInto(m.ref, cache);
    expect(blobGets(f.originFront, sha256(WEIGHT(33)))).toBe(before);
    expect(res.receipt.delivery!.files['w.bin']).toEqual({ from: 'cache' });
    const placed = await stat(path.join(into, 'w.bin'));
    expect(placed.ino).toBe((await stat(cache.entryPath(sha256(WEIGHT(33))))).ino);
    expect(placed.mode & 0o777).toBe(0o444);
  });

  it('a corrupted cache file is detected (re-hashed on use), evicted and fetched again; the pull places the signed bytes', async () => {
    const m = await publishModel(f, 'cache/corrupt', 35);
    const cache = await NodeCache.open({ dir: path.join(await tempDir('node-cache'), 'c'), place: 'copy' });
    const first = await pullInto(m.ref, cache);
    const entry = cache.entryPath(sha256(WEIGHT(35)));
    // Copy mode: the placed file is not the cache entry's inode, so this tampers with the cache only.
    expect((await stat(entry)).ino).not.toBe((await stat(path.join(first.into, 'w.bin'))).ino);
    await chmod(entry, 0o644);
    const evil = await readFile(entry);
    evil[1234] ^= 0x01;
    await writeFile(entry, evil);
    const gets = blobGets(f.originFront, sha256(WEIGHT(35)));
    const { res, into } = await pullInto(m.ref, cache);
    expect(blobGets(f.originFront, sha256(WEIGHT(35)))).toBe(gets + 1);
    expect(sha256(await readFile(path.join(into, 'w.bin')))).toBe(sha256(WEIGHT(35)));
    expect(res.receipt.delivery!.files['w.bin']).toEqual({ from: 'origin', blob: `sha256:${sha256(WEIGHT(35))}` });
    expect(res.receipt.delivery!.files['config.json']).toEqual({ from: 'cache' });
    // The refetched, verified bytes replaced the bad entry.
    expect(sha256(await readFile(entry))).toBe(sha256(WEIGHT(35)));
  });

  it('evicts least recently used entries beyond the size cap, never the ones just used', async () => {
    const old = await publishModel(f, 'cache/lru-old', 37);
    const recent = await publishModel(f, 'cache/lru-new', 39);
    const cache = await NodeCache.open({ dir: path.join(await tempDir('node-cache'), 'c'), maxBytes: 600_000 });
    await pullInto(old.ref, cache);
    const oldEntry = cache.entryPath(sha256(WEIGHT(37)));
    expect((await stat(oldEntry)).size).toBe(400_000);
    // Make the first model's use clearly older than the second's.
    const past = new Date(Date.now() - 3600_000);
    for (const hex of await readdir(path.join(cache.dir, 'used'))) await utimes(path.join(cache.dir, 'used', hex), past, past);
    await pullInto(recent.ref, cache);
    await expect(stat(oldEntry)).rejects.toThrow();
    expect((await stat(cache.entryPath(sha256(WEIGHT(39))))).size).toBe(400_000);
    let total = 0;
    for (const hex of await readdir(path.join(cache.dir, 'sha256'))) total += (await stat(path.join(cache.dir, 'sha256', hex))).size;
    expect(total).toBeLessThanOrEqual(600_000);
  });

  it('a lock left by a dead pull (not refreshed) is broken; a live one is waited for', async () => {
    const dir = await tempDir('locks');
    const file = path.join(dir, 'x.lock');
    await writeFile(file, 'dead-host 1 long ago\n');
    const past = new Date(Date.now() - 120_000);
    await utimes(file, past, past);
    const taken = await FileLock.acquire(file, { staleMs: 60_000, pollMs: 10 });
    expect(await readFile(file, 'utf8')).toMatch(new RegExp(`${process.pid}`));
    const order: string[] = [];
    const waiter = FileLock.acquire(file, { staleMs: 60_000, pollMs: 10 }).then((l) => {
      order.push('second acquired');
      return l;
    });
    await new Promise((r) => setTimeout(r, 100));
    order.push('first released');
    await taken.release();
    await (await waiter).release();
    expect(order).toEqual(['first released', 'second acquired']);
    const aborted = new AbortController();
    const held = await FileLock.acquire(file, { staleMs: 60_000, pollMs: 10 });
    const p = FileLock.acquire(file, { staleMs: 60_000, pollMs: 10, signal: aborted.signal });
    aborted.abort(new Error('pull cancelled'));
    await expect(p).rejects.toThrow('pull cancelled');
    await held.release();
  });
});
