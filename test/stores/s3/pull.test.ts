import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../../src/app/pull.js';
import { createS3Source } from '../../../src/stores/s3/index.js';
import { startMoto, type MotoServer } from '../../harness/moto.js';
import { createBucket, makeModel, rawClient, s3opts, type ModelFixture } from './helpers.js';
import { leftovers, placedMatches, publishSigned, target, trusted } from './signed.js';
import { trustOf } from '../../helpers/trust.js';

// The full signed pull through the one pipeline (src/pull.ts) from moto: signature verified,
// listing compared with the signed files before any weight byte, bytes hashed as they stream.
let moto: MotoServer;
let model: ModelFixture;
const small = { partSize: 1024 * 1024, parallelParts: 4, uploadPartSize: 5 * 1024 * 1024 };
let n = 0;

beforeAll(async () => {
  [moto, model] = await Promise.all([startMoto(), makeModel()]);
  await createBucket(moto, { Bucket: 'models-bucket', ObjectLockEnabledForBucket: true });
});
afterAll(async () => {
  await moto?.stop();
  await model?.cleanup();
});

/** A freshly published, signed copy under its own prefix, and a client to tamper with it. */
async function fresh() {
  const prefix = `m${++n}`;
  const url = `s3://models-bucket/${prefix}`;
  await publishSigned(model, url, s3opts(moto, small));
  const c = rawClient(moto);
  return {
    url,
    put: (rel: string, body: Buffer | string) => c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: `${prefix}/${rel}`, Body: body })),
    del: (rel: string) => c.send(new DeleteObjectCommand({ Bucket: 'models-bucket', Key: `${prefix}/${rel}` })),
    done: () => c.destroy(),
  };
}

async function run(url: string, extra: { ignoreUnsignedFiles?: boolean } = {}) {
  const into = await target();
  const p = pull({ reference: url, source: createS3Source(url, s3opts(moto, small)), trust: trustOf(trusted, extra), into, concurrency: 3 });
  return { into, p };
}

describe('signed pull from S3 (moto)', () => {
  it('verifies, places read-only, and records VersionId/ETag per file in the receipt', async () => {
    const m = await fresh();
    m.done();
    const { into, p } = await run(m.url);
    const res = await p;
    expect(res.placedAt).toBe(into);
    expect(await placedMatches(into, model)).toBe(true);
    expect((await stat(path.join(into, 'empty.bin'))).size).toBe(0);
    expect((await stat(path.join(into, 'weights/model-00001.dat'))).mode & 0o777).toBe(0o444);
    const receipt = JSON.parse(await readFile(res.receiptPath, 'utf8'));
    expect(receipt.reference).toBe(m.url);
    expect(receipt.signature.origin).toBe(`${m.url}/model.sig`);
    const files = new Map(receipt.model.files.map((f: { path: string }) => [f.path, f]));
    expect(files.size).toBe(model.files.length);
    for (const f of model.files) {
      expect(files.get(f.path)).toMatchObject({ path: f.path, size: f.size, sha256: f.sha256, facts: { versionId: expect.any(String), etag: expect.any(String) } });
    }
  });

  it('refuses an unsigned extra object before downloading, or skips it with ignoreUnsignedFiles', async () => {
    const m = await fresh();
    await m.put('extra.py', 'import os\n');
    m.done();
    const a = await run(m.url);
    await expect(a.p).rejects.toMatchObject({ code: 'FILE_UNSIGNED', message: expect.stringMatching(/extra\.py/) });
    expect(await leftovers(a.into)).toEqual([]);
    const b = await run(m.url, { ignoreUnsignedFiles: true });
    const res = await b.p;
    await expect(stat(path.join(res.placedAt, 'extra.py'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a deleted signed object', async () => {
    const m = await fresh();
    await m.del('weights/small.bin');
    m.done();
    const { into, p } = await run(m.url);
    await expect(p).rejects.toMatchObject({ code: 'FILE_MISSING', message: expect.stringMatching(/weights\/small\.bin/) });
    expect(await leftovers(into)).toEqual([]);
  });

  it('refuses when the signed zero-byte file is missing (not silently dropped)', async () => {
    const m = await fresh();
    await m.del('empty.bin');
    m.done();
    const { into, p } = await run(m.url);
    await expect(p).rejects.toMatchObject({ code: 'FILE_MISSING', message: expect.stringMatching(/empty\.bin/) });
    expect(await leftovers(into)).toEqual([]);
  });

  it('refuses an object overwritten after signing (same size, or another size)', async () => {
    const m = await fresh();
    const big = model.bytes.get('weights/model-00001.dat')!;
    const flipped = Buffer.from(big);
    flipped[flipped.length - 1]! ^= 0xff; // the very last byte, of the last ranged part
    await m.put('weights/model-00001.dat', flipped);
    const a = await run(m.url);
    await expect(a.p).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/model-00001/) });
    expect(await leftovers(a.into)).toEqual([]);

    await m.put('config.json', '{"architectures":["Evil"]}');
    m.done();
    const b = await run(m.url);
    await expect(b.p).rejects.toMatchObject({ exitCode: 4, message: expect.stringMatching(/config\.json/) });
    expect(await leftovers(b.into)).toEqual([]);
  });

  it('refuses a model whose signature was removed', async () => {
    const m = await fresh();
    await m.del('model.sig');
    m.done();
    const { p } = await run(m.url);
    await expect(p).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
  });
});
