import { PutObjectCommand, PutObjectLegalHoldCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { createS3Source, publishS3 } from '../../../src/stores/s3/index.js';
import { startMoto, type MotoServer } from '../../harness/moto.js';
import { createBucket, fetchAll, makeModel, rawClient, s3opts, sha256, startFaultProxy, type ModelFixture } from './helpers.js';
import { requireObjectLock } from '../../../src/trust/checks/object-lock.js';

// moto: versioning, Object Lock and stored SHA-256 checksums (no SigV4 check: auth is Swift's test).
let moto: MotoServer;
let model: ModelFixture;
const BUNDLE = '{"test":"moto"}';
const small = { partSize: 1024 * 1024, parallelParts: 4, uploadPartSize: 5 * 1024 * 1024 };
const BIG = 'weights/model-00001.dat';

beforeAll(async () => {
  [moto, model] = await Promise.all([startMoto(), makeModel()]);
  await createBucket(moto, { Bucket: 'locked-bucket', ObjectLockEnabledForBucket: true }); // versioned by construction
  await createBucket(moto, { Bucket: 'plain-bucket' });
  await publishS3({ dir: model.dir, url: 's3://locked-bucket/m', files: model.files, bundleJson: BUNDLE, s3: s3opts(moto, small) });
  await publishS3({ dir: model.dir, url: 's3://plain-bucket/m', files: model.files, bundleJson: BUNDLE, s3: s3opts(moto, small) });
});
afterAll(async () => {
  await moto?.stop();
  await model?.cleanup();
});

describe('moto', () => {
  it('round-trips a model with version pins and the store SHA-256 on single-PUT objects', async () => {
    const src = createS3Source('s3://locked-bucket/m', s3opts(moto, small));
    try {
      expect((await src.resolve()).facts).toMatchObject({ objects: 5, pinning: 'version-id', objectLock: 'none' });
      const entries = await src.list();
      for (const e of entries) expect(e.facts?.versionId).toMatch(/\S/);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      // Single PUT: full-object SHA-256 kept by the store. Multipart: composite only, never exposed.
      expect(byPath.get('weights/small.bin')?.facts?.checksumSha256).toBe(model.files.find((f) => f.path === 'weights/small.bin')!.sha256);
      expect(byPath.get('empty.bin')?.facts?.checksumSha256).toBe(sha256(''));
      expect(byPath.get(BIG)?.facts?.checksumSha256).toBeUndefined();
      const got = await fetchAll(src, entries, 2);
      for (const f of model.files) expect(got.get(f.path)).toEqual({ sha256: f.sha256, size: f.size });
    } finally {
      await src.close();
    }
  });

  it('keeps memory bounded with parts larger than the reorder buffer (paused bodies, slow consumer)', async () => {
    const src = createS3Source('s3://locked-bucket/m', s3opts(moto, { partSize: 4 * 1024 * 1024, parallelParts: 4, maxPartBuffer: 256 * 1024 }));
    try {
      await src.resolve();
      const entries = (await src.list()).filter((e) => e.path === BIG);
      const h = createHash('sha256');
      await src.fetch(
        entries,
        async (f) => {
          for await (const c of f.stream) {
            h.update(c as Buffer);
            await new Promise((r) => setImmediate(r)); // slower than the network: later parts must wait
          }
        },
        { concurrency: 1 },
      );
      expect(h.digest('hex')).toBe(model.files.find((f) => f.path === BIG)!.sha256);
    } finally {
      await src.close();
    }
  });

  it('keeps serving the resolved version when an object is overwritten after listing (versioned)', async () => {
    const src = createS3Source('s3://locked-bucket/m', s3opts(moto, small));
    const c = rawClient(moto);
    try {
      await src.resolve();
      const entries = await src.list();
      await c.send(new PutObjectCommand({ Bucket: 'locked-bucket', Key: `m/${BIG}`, Body: Buffer.from('overwritten') }));
      const got = await fetchAll(src, entries.filter((e) => e.path === BIG));
      expect(got.get(BIG)?.sha256).toBe(model.files.find((f) => f.path === BIG)!.sha256);
      // Restore the latest version for the other tests.
      await c.send(new PutObjectCommand({ Bucket: 'locked-bucket', Key: `m/${BIG}`, Body: model.bytes.get(BIG)! }));
    } finally {
      c.destroy();
      await src.close();
    }
  });

  it('fails cleanly with 412 when an object is overwritten after listing (unversioned)', async () => {
    await publishS3({ dir: model.dir, url: 's3://plain-bucket/ow', files: model.files, bundleJson: BUNDLE, s3: s3opts(moto, small) });
    const src = createS3Source('s3://plain-bucket/ow', s3opts(moto, small));
    const c = rawClient(moto);
    try {
      expect((await src.resolve()).facts).toMatchObject({ pinning: 'etag' });
      const entries = await src.list();
      await c.send(new PutObjectCommand({ Bucket: 'plain-bucket', Key: `ow/${BIG}`, Body: Buffer.from('overwritten') }));
      await expect(fetchAll(src, entries)).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: expect.stringMatching(/changed after it was listed/) });
    } finally {
      c.destroy();
      await src.close();
    }
  });

  it('refuses with OBJECT_LOCK_REQUIRED when objects have no retention or legal hold, accepts once held', async () => {
    const src = createS3Source('s3://locked-bucket/m', s3opts(moto));
    await src.resolve();
    const err = await Promise.resolve(src.list()).then((entries) => requireObjectLock(entries, 's3://locked-bucket/m/')).catch((e: unknown) => e);
    expect(isModelsealError(err, 'OBJECT_LOCK_REQUIRED')).toBe(true);
    expect((err as Error).message).toMatch(/^5 object\(s\) under s3:\/\/locked-bucket\/m\/ have no Object Lock/);
    await src.close();

    await publishS3({ dir: model.dir, url: 's3://locked-bucket/held', files: model.files, bundleJson: BUNDLE, s3: s3opts(moto, small) });
    const c = rawClient(moto);
    for (const f of model.files) {
      await c.send(new PutObjectLegalHoldCommand({ Bucket: 'locked-bucket', Key: `held/${f.path}`, LegalHold: { Status: 'ON' }, ChecksumAlgorithm: 'SHA256' }));
    }
    c.destroy();
    const held = createS3Source('s3://locked-bucket/held', s3opts(moto, small));
    try {
      expect((await held.resolve()).facts).toMatchObject({ objectLock: 'all' });
      const entries = await held.list();
      expect(entries.every((e) => e.facts?.objectLock === 'legal-hold')).toBe(true);
      requireObjectLock(entries, 's3://locked-bucket/held/');
      const got = await fetchAll(held, entries);
      expect(got.size).toBe(model.files.length);
    } finally {
      await held.close();
    }
  });

  it('fails with DIGEST_MISMATCH when the bytes disagree with the store\'s full-object SHA-256', async () => {
    const c = rawClient(moto);
    const lie = createHash('sha256').update('something else').digest('base64');
    await c.send(
      new PutObjectCommand({ Bucket: 'plain-bucket', Key: 'lying/file.bin', Body: Buffer.from('real bytes'), ChecksumAlgorithm: 'SHA256', ChecksumSHA256: lie }),
    );
    c.destroy();
    const src = createS3Source('s3://plain-bucket/lying', s3opts(moto));
    try {
      await src.resolve();
      await expect(fetchAll(src, await src.list())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/store's own SHA-256/) });
    } finally {
      await src.close();
    }
  });

  it('resumes the remaining range after the connection is cut mid-object', async () => {
    let cuts = 0;
    const proxy = await startFaultProxy(moto.endpoint, (req) => {
      // Cut the first two ranged GETs of the big file after 100 KiB of their 1 MiB part.
      if (req.method === 'GET' && req.url?.includes('model-00001') && req.headers.range && cuts < 2) {
        cuts++;
        return { kind: 'cut', cutAfter: 100 * 1024 };
      }
      return { kind: 'pass' };
    });
    const src = createS3Source('s3://locked-bucket/m', { ...s3opts(moto, small), endpoint: proxy.endpoint });
    try {
      await src.resolve();
      const entries = (await src.list()).filter((e) => e.path === BIG);
      const got = await fetchAll(src, entries);
      expect(got.get(BIG)?.sha256).toBe(model.files.find((f) => f.path === BIG)!.sha256);
      const ranged = proxy.requests.filter((r) => r.range);
      expect(ranged.filter((r) => r.fault === 'cut')).toHaveLength(2);
      // The resumes ask for the rest of a part, not the part again: start = part start + bytes received.
      const resumed = ranged.filter((r) => {
        const start = Number(/bytes=(\d+)-/.exec(r.range!)![1]);
        return start % (1024 * 1024) !== 0;
      });
      expect(resumed.length).toBeGreaterThanOrEqual(2);
      for (const r of resumed) expect(Number(/bytes=(\d+)-/.exec(r.range!)![1]) % (1024 * 1024)).toBeGreaterThan(0);
    } finally {
      await src.close();
      await proxy.close();
    }
  });

  it('gives up with NETWORK after bounded retries when every attempt is cut', async () => {
    const proxy = await startFaultProxy(moto.endpoint, (req) =>
      req.method === 'GET' && req.headers.range ? { kind: 'cut', cutAfter: 1000 } : { kind: 'pass' },
    );
    const src = createS3Source('s3://locked-bucket/m', { ...s3opts(moto, small), endpoint: proxy.endpoint, retries: 2 });
    try {
      await src.resolve();
      const entries = (await src.list()).filter((e) => e.path === 'weights/small.bin');
      await expect(fetchAll(src, entries)).rejects.toMatchObject({ code: 'NETWORK' });
      expect(proxy.requests.filter((r) => r.range).length).toBe(3); // first try + 2 resumes
    } finally {
      await src.close();
      await proxy.close();
    }
  });

  it('retries throttling (503 SlowDown) on listing, HEAD and GET', async () => {
    const proxy = await startFaultProxy(moto.endpoint, (_req, n) => (n % 3 === 0 ? { kind: 'throttle' } : { kind: 'pass' }));
    const src = createS3Source('s3://locked-bucket/m', { ...s3opts(moto, small), endpoint: proxy.endpoint });
    try {
      await src.resolve();
      const got = await fetchAll(src, await src.list());
      for (const f of model.files) expect(got.get(f.path)?.sha256).toBe(f.sha256);
      expect(proxy.requests.filter((r) => r.fault === 'throttle').length).toBeGreaterThan(3);
    } finally {
      await src.close();
      await proxy.close();
    }
  });

  it('reports a missing bucket as NOT_FOUND', async () => {
    const src = createS3Source('s3://no-such-bucket/m', s3opts(moto));
    await expect(src.resolve()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await src.close();
  });
});
