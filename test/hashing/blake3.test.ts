import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FollowHasherPool } from '../../src/hashing/follow.js';
import { HashPool } from '../../src/hashing/pool.js';
import { opensslName, resourceHashType } from '../../src/hashing/algorithms.js';
import { resourcesOf, serializeDirectory } from '../../src/model/serialize.js';

// The reference: hash-wasm in this thread, over the whole buffer at once (the workers stream it).
const { blake3 } = createRequire(import.meta.url)('hash-wasm') as { blake3: (data: Uint8Array) => Promise<string> };

let dir: string;
let pool: HashPool;
const big = randomBytes(5 * 1024 * 1024 + 12345);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-b3-'));
  pool = new HashPool(2);
  await writeFile(path.join(dir, 'empty'), '');
  await writeFile(path.join(dir, 'abc'), 'abc');
  await writeFile(path.join(dir, 'big'), big);
});
afterAll(async () => {
  await pool?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('BLAKE3 in the hash workers (WebAssembly, streamed)', () => {
  it('matches the BLAKE3 reference vectors', async () => {
    const at = (name: string) => pool.hash({ path: path.join(dir, name), algorithm: opensslName('blake3'), start: 0, end: -1 });
    // BLAKE3 paper / official test_vectors.json: empty input, and "abc".
    expect((await at('empty')).digest).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
    expect((await at('abc')).digest).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  });

  it('a multi-read file and a byte range equal one-shot BLAKE3 of the same bytes', async () => {
    const file = path.join(dir, 'big');
    expect(await pool.hash({ path: file, algorithm: 'blake3', start: 0, end: -1 })).toEqual({ digest: await blake3(big), size: big.length });
    const [start, end] = [1_000_001, 3_333_333];
    expect((await pool.hash({ path: file, algorithm: 'blake3', start, end })).digest).toBe(await blake3(big.subarray(start, end)));
    // Several at once on the same workers: each task has its own hasher state.
    const again = await Promise.all([0, 1, 2, 3].map(() => pool.hash({ path: file, algorithm: 'blake3', start: 0, end: -1 })));
    expect(new Set(again.map((r) => r.digest))).toEqual(new Set([await blake3(big)]));
  });

  it('follows a file while it is written: whole-file and shard digests', async () => {
    const follow = new FollowHasherPool(1);
    try {
      const files = path.join(dir, 'growing-files');
      const shards = path.join(dir, 'growing-shards');
      const asFile = follow.follow(files, 'blake3', 0);
      const shardSize = 1024 * 1024 + 3;
      const asShards = follow.follow(shards, 'blake3', shardSize);
      for (let pos = 0; pos < big.length; pos += 700_000) {
        const piece = big.subarray(pos, Math.min(pos + 700_000, big.length));
        await appendFile(files, piece);
        await appendFile(shards, piece);
        asFile.grew(pos + piece.length);
        asShards.grew(pos + piece.length);
      }
      expect(await asFile.finish(big.length)).toEqual([{ start: 0, end: big.length, digest: await blake3(big) }]);
      const got = await asShards.finish(big.length);
      const want = [];
      for (let s = 0; s < big.length; s += shardSize) {
        const e = Math.min(s + shardSize, big.length);
        want.push({ start: s, end: e, digest: await blake3(big.subarray(s, e)) });
      }
      expect(got).toEqual(want);
      expect(resourcesOf('w.bin', 'shards', 'blake3', got)[1]).toEqual({ name: `w.bin:${shardSize}:${2 * shardSize}`, algorithm: 'blake3', digest: want[1]!.digest });
    } finally {
      await follow.close();
    }
  });

  it('serializes a model with hash_type blake3; names blake3 (and Python-style sharded) resources', async () => {
    const model = path.join(dir, 'model');
    await mkdir(model);
    await writeFile(path.join(model, 'weights.bin'), big);
    await writeFile(path.join(model, 'config.json'), '{}');
    const m = await serializeDirectory(model, { method: 'files', hashType: 'blake3', allowSymlinks: false, ignorePaths: [], pool });
    expect(m.serialization.hashType).toBe('blake3');
    expect(m.resources).toEqual([
      { name: 'config.json', algorithm: 'blake3', digest: await blake3(Buffer.from('{}')) },
      { name: 'weights.bin', algorithm: 'blake3', digest: await blake3(big) },
    ]);
    expect(resourceHashType('blake3')).toBe('blake3');
    expect(resourceHashType('blake3-sharded-1000000000')).toBe('blake3');
    expect(() => opensslName('blake3x')).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }));
  });
});
