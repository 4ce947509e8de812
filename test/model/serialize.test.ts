import { open, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rootDigest } from '../../src/model/digest.js';
import { parseShardName, sortForSigning, isIgnored, assertSafeRelativePath } from '../../src/model/names.js';
import { serializeDirectory, resourcesOf } from '../../src/model/serialize.js';
import { listModelFiles } from '../../src/model/walk.js';
import { FollowHasherPool } from '../../src/hashing/follow.js';
import { bytes, makeModel, sha256 } from '../helpers/model.js';
import { tempDir } from '../harness/process.js';

const opts = { method: 'files' as const, hashType: 'sha256' as const, allowSymlinks: false, ignorePaths: [] as string[] };

describe('root digest', () => {
  it('is SHA-256 over the raw digests in the listed order (golden v1.1.0-elliptic-key)', () => {
    const resources = [
      { name: 'signme-1', algorithm: 'sha256', digest: 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc' },
      { name: 'signme-2', algorithm: 'sha256', digest: '32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028' },
    ];
    expect(rootDigest(resources)).toBe('92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4');
    expect(rootDigest([...resources].reverse())).not.toBe('92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4');
  });
  it('rejects a digest that is not hex', () => {
    expect(() => rootDigest([{ name: 'a', algorithm: 'sha256', digest: 'zz' }])).toThrow(/not lowercase hex/);
  });
});

describe('names', () => {
  it('parses shard names by the last two fields', () => {
    expect(parseShardName('dir/a:b.bin:0:8')).toEqual({ path: 'dir/a:b.bin', start: 0, end: 8 });
    expect(() => parseShardName('a:8:8')).toThrow(/empty or inverted/);
    expect(() => parseShardName('a:x:8')).toThrow(/<path>:<start>:<end>/);
  });
  it('sorts for signing in code-point order, not path-component order (trap T1)', () => {
    const names = ['tokenizer.json', 'tokenizer/vocab.txt', 'a-b', 'a/b', 'a.b'];
    const sorted = sortForSigning(names.map((name) => ({ name, algorithm: 'sha256', digest: '00' }))).map((r) => r.name);
    expect(sorted).toEqual(['a-b', 'a.b', 'a/b', 'tokenizer.json', 'tokenizer/vocab.txt']);
  });
  it('ignores paths equal to or under an ignore path only', () => {
    expect(isIgnored('.git/config', ['.git'])).toBe(true);
    expect(isIgnored('.gitx', ['.git'])).toBe(false);
    expect(isIgnored('ignore-me', ['ignore-me/'])).toBe(true);
  });
  it('rejects unsafe relative paths', () => {
    for (const p of ['/etc/passwd', '../x', 'a/../../b', 'a//b', '', 'C:/x', 'a\\b', './a']) {
      expect(() => assertSafeRelativePath(p, 'test'), p).toThrow(/unsafe path/);
    }
    expect(() => assertSafeRelativePath('a/b.bin', 'test')).not.toThrow();
  });
});

describe('serializeDirectory', () => {
  it('hashes every file (files method), empty files included, in code-point order', async () => {
    const dir = await makeModel({ 'b.bin': 'bbb', 'a/x.json': '{}', 'empty': '' });
    const m = await serializeDirectory(dir, opts);
    expect(m.modelName).toBe('model');
    expect(m.resources).toEqual([
      { name: 'a/x.json', algorithm: 'sha256', digest: sha256('{}') },
      { name: 'b.bin', algorithm: 'sha256', digest: sha256('bbb') },
      { name: 'empty', algorithm: 'sha256', digest: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    ]);
  });

  it('shards large files and drops empty ones (trap T4)', async () => {
    const data = bytes(25);
    const dir = await makeModel({ w: data, empty: '' });
    const m = await serializeDirectory(dir, { ...opts, method: 'shards', shardSize: 10 });
    expect(m.serialization.shardSize).toBe(10);
    expect(m.resources.map((r) => r.name)).toEqual(['w:0:10', 'w:10:20', 'w:20:25']);
    expect(m.resources[1]!.digest).toBe(sha256(data.subarray(10, 20)));
  });

  it('supports blake2b', async () => {
    const dir = await makeModel({ a: 'x' });
    const m = await serializeDirectory(dir, { ...opts, hashType: 'blake2b' });
    expect(m.resources[0]!.digest).toHaveLength(128);
  });

  it('the follow-hasher (pull) yields the same resources as the parallel serializer, as the file grows', async () => {
    const data = bytes(100_003, 7);
    const dir = await makeModel({ w: data });
    const staged = path.join(await tempDir('follow'), 'w');
    const fh = await open(staged, 'w');
    const pool = new FollowHasherPool(2);
    try {
      for (const [method, shardSize] of [['files', 0], ['shards', 4096]] as const) {
        await fh.truncate(0);
        const m = await serializeDirectory(dir, { ...opts, method, shardSize: shardSize || undefined });
        const followed = pool.follow(staged, 'sha256', shardSize);
        for (let i = 0; i < data.length; i += 7777) {
          const part = data.subarray(i, i + 7777);
          await fh.write(part, 0, part.length, i);
          followed.grew(i + part.length);
        }
        expect(sortForSigning(resourcesOf('w', method, 'sha256', await followed.finish(data.length)))).toEqual(m.resources);
      }
    } finally {
      await fh.close();
      await pool.close();
    }
  });

  it('the follow-hasher reports a staged file that is shorter than claimed', async () => {
    const staged = path.join(await tempDir('follow'), 'short');
    await writeFile(staged, 'abc');
    const pool = new FollowHasherPool(1);
    try {
      await expect(pool.follow(staged, 'sha256', 0).finish(10)).rejects.toThrow(/shorter than written/);
    } finally {
      await pool.close();
    }
  });

  it('leaves out ignored paths', async () => {
    const dir = await makeModel({ 'a': '1', '.git/HEAD': 'ref', 'skip/me': '2' });
    const m = await serializeDirectory(dir, { ...opts, ignorePaths: ['.git', 'skip'] });
    expect(m.resources.map((r) => r.name)).toEqual(['a']);
  });
});

describe('symlinks', () => {
  it('are rejected by default', async () => {
    const dir = await makeModel({ a: '1' });
    await symlink('a', path.join(dir, 'link'));
    await expect(listModelFiles(dir, { allowSymlinks: false, ignorePaths: [] })).rejects.toMatchObject({ code: 'SYMLINK_REJECTED' });
  });
  it('inside the root are followed with allowSymlinks, hashing the target under the link name', async () => {
    const dir = await makeModel({ a: '1' });
    await symlink('a', path.join(dir, 'link'));
    const m = await serializeDirectory(dir, { ...opts, allowSymlinks: true });
    expect(m.resources.map((r) => [r.name, r.digest])).toEqual([
      ['a', sha256('1')],
      ['link', sha256('1')],
    ]);
  });
  it('leaving the model root are rejected even when allowed', async () => {
    const outside = path.join(await tempDir('outside'), 'secret');
    await writeFile(outside, 'secret');
    const dir = await makeModel({ a: '1' });
    await symlink(outside, path.join(dir, 'escape'));
    await expect(listModelFiles(dir, { allowSymlinks: true, ignorePaths: [] })).rejects.toThrow(/links outside the model root/);
  });
  it('broken links are errors', async () => {
    const dir = await makeModel({ a: '1' });
    await symlink('nowhere', path.join(dir, 'broken'));
    await expect(listModelFiles(dir, { allowSymlinks: true, ignorePaths: [] })).rejects.toMatchObject({ code: 'FILE_MISSING' });
  });
});
