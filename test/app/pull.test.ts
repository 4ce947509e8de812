import { generateKeyPairSync } from 'node:crypto';
import { appendFile, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serializeDirectory } from '../../src/model/serialize.js';
import { pull } from '../../src/app/pull.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { createDirSource } from '../../src/stores/dir/source.js';
import type { ModelSource } from '../../src/stores/types.js';
import type { Authority } from '../../src/signatures/core/types.js';
import { tempDir } from '../harness/process.js';
import { bytes, makeModel } from '../helpers/model.js';
import { trustOf } from '../helpers/trust.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const trusted: Authority[] = [{ kind: 'key', name: 'release', publicKeys: [publicKey] }];

async function signedModel(method: 'files' | 'shards' = 'files') {
  const dir = await makeModel({ 'config.json': '{"a":1}', 'weights/w.bin': bytes(300_000), empty: '' });
  const m = await serializeDirectory(dir, { method, hashType: 'sha256', shardSize: 65536, allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] });
  await writeFile(path.join(dir, 'model.sig'), await signManifest(m, { kind: 'key', privateKey }));
  return dir;
}

async function target() {
  return path.join(await tempDir('into'), 'served', 'model');
}

async function leftovers(into: string): Promise<string[]> {
  return readdir(path.dirname(into)).catch(() => []);
}

describe('pull pipeline (directory source)', () => {
  for (const method of ['files', 'shards'] as const) {
    it(`places a verified model read-only with a receipt outside it (${method})`, async () => {
      const dir = await signedModel(method);
      const into = await target();
      const res = await pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into });
      expect(res.placedAt).toBe(into);
      // Shard signatures cannot cover empty files (trap T4), so they are not placed.
      expect((await readdir(into)).sort()).toEqual(method === 'files' ? ['config.json', 'empty', 'weights'] : ['config.json', 'weights']);
      expect((await stat(path.join(into, 'weights/w.bin'))).mode & 0o777).toBe(0o444);
      expect((await stat(path.join(into, 'weights'))).mode & 0o777).toBe(0o555);
      expect((await stat(into)).mode & 0o777).toBe(0o555);
      expect(res.receiptPath).toBe(`${into}.receipt.json`);
      const receipt = JSON.parse(await readFile(res.receiptPath, 'utf8'));
      expect(receipt.model.files.map((f: { path: string }) => f.path).sort()).toEqual(method === 'files' ? ['config.json', 'empty', 'weights/w.bin'] : ['config.json', 'weights/w.bin']);
      expect(receipt.signer.method).toBe('key');
      expect(await leftovers(into)).toEqual(['model', 'model.receipt.json']);
    });
  }

  it('refuses a signature by an untrusted key and leaves nothing behind', async () => {
    const dir = await signedModel();
    const into = await target();
    await expect(
      pull({ reference: dir, source: createDirSource(dir), trust: trustOf([{ kind: 'key', publicKeys: [other.publicKey] }]), into }),
    ).rejects.toMatchObject({ exitCode: 3 });
    expect(await leftovers(into)).toEqual([]);
  });

  it('refuses a changed file after streaming it, and removes the staging directory', async () => {
    const dir = await signedModel();
    await appendFile(path.join(dir, 'weights/w.bin'), 'x');
    const into = await target();
    await expect(pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await leftovers(into)).toEqual([]);
  });

  it('refuses unsigned extra files before downloading, or skips them when allowed', async () => {
    const dir = await signedModel();
    await writeFile(path.join(dir, 'extra.py'), 'import os');
    const into = await target();
    await expect(pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into })).rejects.toMatchObject({ code: 'FILE_UNSIGNED' });
    const res = await pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted, { ignoreUnsignedFiles: true }), into });
    expect(await readdir(res.placedAt)).not.toContain('extra.py');
  });

  it('refuses a missing signed file before downloading', async () => {
    const dir = await signedModel();
    const { rm } = await import('node:fs/promises');
    await rm(path.join(dir, 'config.json'));
    await expect(pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into: await target() })).rejects.toMatchObject({ code: 'FILE_MISSING' });
  });

  it('refuses a non-empty target and never writes into it', async () => {
    const dir = await signedModel();
    const into = await target();
    await pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into });
    await expect(pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), into })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('refuses a source that lies about a digest before any byte moves, and one that delivers unasked paths', async () => {
    const dir = await signedModel();
    const real = createDirSource(dir);
    let fetched = false;
    const lying: ModelSource = {
      ...real,
      list: async () => (await real.list()).map((e) => (e.path === 'config.json' ? { ...e, sha256: '0'.repeat(64) } : e)),
      fetch: async (...a) => {
        fetched = true;
        return real.fetch(...a);
      },
    };
    await expect(pull({ reference: dir, source: lying, trust: trustOf(trusted), into: await target() })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(fetched).toBe(false);

    const sneaky: ModelSource = {
      ...real,
      fetch: async (wanted, sink) => {
        const { Readable } = await import('node:stream');
        await sink({ path: '../escape', stream: Readable.from([Buffer.from('x')]) });
      },
    };
    await expect(pull({ reference: dir, source: sneaky, trust: trustOf(trusted), into: await target() })).rejects.toMatchObject({ code: 'FILE_UNSIGNED' });
  });

  it('refuses before downloading when the target filesystem cannot hold the model', async () => {
    const dir = await signedModel();
    const into = await target();
    const { statfs, mkdir } = await import('node:fs/promises');
    await mkdir(path.dirname(into), { recursive: true });
    const fsInfo = await statfs(path.dirname(into));
    const free = fsInfo.bavail * fsInfo.bsize;
    const real = createDirSource(dir);
    let fetched = false;
    // A listing that declares one file larger than the free space (as a registry manifest may).
    const huge: ModelSource = {
      ...real,
      list: async () => (await real.list()).map((e) => (e.path === 'weights/w.bin' ? { ...e, size: free + 2 ** 30 } : e)),
      fetch: async (...a) => {
        fetched = true;
        return real.fetch(...a);
      },
    };
    const err = await pull({ reference: dir, source: huge, trust: trustOf(trusted), into }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IO', exitCode: 7 });
    expect((err as Error).message).toMatch(/not enough space in .*: the model needs .* GiB, .* free/);
    expect(fetched).toBe(false);
    expect(await leftovers(into)).toEqual([]);
  });

  it('verifies in place without copying, and writes the receipt beside the model', async () => {
    const dir = await signedModel();
    const receiptPath = path.join(await tempDir('receipt'), 'r.json');
    const res = await pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), inPlaceDir: dir, receiptPath });
    expect(res.placedAt).toBe(path.resolve(dir));
    expect(JSON.parse(await readFile(receiptPath, 'utf8')).model.files).toHaveLength(3);
    await appendFile(path.join(dir, 'config.json'), ' ');
    await expect(pull({ reference: dir, source: createDirSource(dir), trust: trustOf(trusted), inPlaceDir: dir, receiptPath })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });
});
