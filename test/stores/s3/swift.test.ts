import { PutObjectCommand } from '@aws-sdk/client-s3';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { pull } from '../../../src/app/pull.js';
import { createS3Source, publishS3 } from '../../../src/stores/s3/index.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../harness/process.js';
import { startSwift, type SwiftServer } from '../../harness/swift.js';
import { createBucket, fetchAll, makeModel, rawClient, s3opts, type ModelFixture } from './helpers.js';
import { leftovers, placedMatches, publishSigned, target, trusted } from './signed.js';
import { trustOf } from '../../helpers/trust.js';

// OpenStack Swift s3api: real SigV4, real multipart, no versioning, no stored checksums, no aws-chunked.
let swift: SwiftServer;
let model: ModelFixture;
const BUNDLE = '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","test":"swift"}';
const SBOM = '{"bomFormat":"CycloneDX"}';
const SBOM_BUNDLE = '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","test":"sbom"}';

beforeAll(async () => {
  [swift, model] = await Promise.all([startSwift(), makeModel()]);
  await createBucket(swift, { Bucket: 'models-bucket' });
});
afterAll(async () => {
  await swift?.stop();
  await model?.cleanup();
});

const small = { partSize: 1024 * 1024, parallelParts: 4, uploadPartSize: 5 * 1024 * 1024 };

describe('Swift s3api', () => {
  it('publishes (multipart + single PUT, signature last) and fetches every byte back in order', async () => {
    const res = await publishS3({
      dir: model.dir,
      url: 's3://models-bucket/tiny/v1',
      files: model.files,
      bundleJson: BUNDLE,
      sbomJson: SBOM,
      sbomBundleJson: SBOM_BUNDLE,
      s3: s3opts(swift, small),
    });
    expect(res).toEqual({ url: 's3://models-bucket/tiny/v1/', objects: model.files.length + 3 });

    const src = createS3Source('s3://models-bucket/tiny/v1', s3opts(swift, small));
    try {
      const resolved = await src.resolve();
      expect(resolved.facts).toMatchObject({ bucket: 'models-bucket', prefix: 'tiny/v1/', objects: 5, pinning: 'etag', objectLock: 'none' });
      const sigs = await src.signatures();
      expect(await Promise.all(sigs.map(async (s) => [s.kind, s.origin, Buffer.from(await s.read()).toString()]))).toEqual([
        ['oms', 's3://models-bucket/tiny/v1/model.sig', BUNDLE],
        ['sbom', 's3://models-bucket/tiny/v1/model.sbom.json', SBOM],
        ['sbom', 's3://models-bucket/tiny/v1/model.sbom.sig', SBOM_BUNDLE],
      ]);
      const entries = await src.list();
      expect(entries.map((e) => [e.path, e.size])).toEqual(model.files.map((f) => [f.path, f.size]));
      const big = entries.find((e) => e.path === 'weights/model-00001.dat')!;
      expect(big.facts?.etag).toMatch(/-3"$/); // really multipart on the store
      expect(entries.find((e) => e.path === 'empty.bin')?.size).toBe(0); // zero-byte objects are listed
      const got = await fetchAll(src, entries);
      for (const f of model.files) expect(got.get(f.path)).toEqual({ sha256: f.sha256, size: f.size });
    } finally {
      await src.close();
    }
  });

  it('fails cleanly with 412 when an object is overwritten after listing (unversioned: ETag pin)', async () => {
    await publishS3({ dir: model.dir, url: 's3://models-bucket/overwrite', files: model.files, bundleJson: BUNDLE, s3: s3opts(swift, small) });
    const src = createS3Source('s3://models-bucket/overwrite', s3opts(swift, small));
    try {
      await src.resolve();
      const entries = await src.list();
      const c = rawClient(swift);
      await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'overwrite/weights/small.bin', Body: Buffer.from('tampered') }));
      c.destroy();
      const err = await fetchAll(src, entries).catch((e: unknown) => e);
      expect(isModelsealError(err, 'SOURCE_UNAVAILABLE')).toBe(true);
      expect(String((err as Error).message)).toMatch(/overwrite\/weights\/small\.bin changed after it was listed/);
    } finally {
      await src.close();
    }
  });

  it('refuses wrong credentials with AUTH_FAILED (list and publish)', async () => {
    const bad = s3opts(swift, { credentials: { accessKeyId: 'test:tester', secretAccessKey: 'not-the-secret' } });
    const src = createS3Source('s3://models-bucket/tiny/v1', bad);
    await expect(src.resolve()).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/SignatureDoesNotMatch/) });
    await src.close();
    await expect(
      publishS3({ dir: model.dir, url: 's3://models-bucket/nope', files: model.files, bundleJson: BUNDLE, s3: bad }),
    ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const unknownUser = s3opts(swift, { credentials: { accessKeyId: 'nobody:x', secretAccessKey: 'x' } });
    const src2 = createS3Source('s3://models-bucket/tiny/v1', unknownUser);
    await expect(src2.resolve()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await src2.close();
  });

  it('reports access denied for a valid user without rights as AUTH_FAILED', async () => {
    const src = createS3Source('s3://models-bucket/tiny/v1', s3opts(swift, { credentials: swift.reader }));
    await expect(src.resolve()).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/^access denied to s3:\/\/models-bucket\/tiny\/v1\/ \(AccessDenied/) });
    await src.close();
  });

  it('reports a missing bucket and an empty prefix as NOT_FOUND', async () => {
    const src = createS3Source('s3://no-such-bucket/m', s3opts(swift));
    await expect(src.resolve()).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/bucket .* does not exist/) });
    await src.close();
    await expect(
      publishS3({ dir: model.dir, url: 's3://no-such-bucket/m', files: model.files, bundleJson: BUNDLE, s3: s3opts(swift) }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'bucket no-such-bucket does not exist' });
    const empty = createS3Source('s3://models-bucket/nothing-here', s3opts(swift));
    await expect(empty.resolve()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await empty.close();
  });

  it('refuses to publish into a prefix holding unrelated objects', async () => {
    const c = rawClient(swift);
    await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'dirty/leftover.bin', Body: Buffer.from('x') }));
    c.destroy();
    await expect(
      publishS3({ dir: model.dir, url: 's3://models-bucket/dirty', files: model.files, bundleJson: BUNDLE, s3: s3opts(swift) }),
    ).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/leftover\.bin/) });
  });

  it('signed publish → verified pull through the pipeline, and a tampered object is refused', async () => {
    await publishSigned(model, 's3://models-bucket/signed', s3opts(swift, small));
    const into = await target();
    const res = await pull({ reference: 's3://models-bucket/signed', source: createS3Source('s3://models-bucket/signed', s3opts(swift, small)), trust: trustOf(trusted), into });
    expect(await placedMatches(res.placedAt, model)).toBe(true);
    expect(res.receipt.model.files.every((f) => f.facts?.etag && !f.facts.versionId)).toBe(true); // Swift: ETag pins

    const c = rawClient(swift);
    const flipped = Buffer.from(model.bytes.get('weights/small.bin')!);
    flipped[0]! ^= 1;
    await c.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: 'signed/weights/small.bin', Body: flipped }));
    c.destroy();
    const into2 = await target();
    await expect(
      pull({ reference: 's3://models-bucket/signed', source: createS3Source('s3://models-bucket/signed', s3opts(swift, small)), trust: trustOf(trusted), into: into2 }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await leftovers(into2)).toEqual([]);
  });

  // The built CLI, credentials from the environment only (the AWS SDK default chain), real SigV4.
  it('CLI: publish and pull with env credentials; wrong secret and missing Object Lock refuse with their exit codes', async () => {
    const keys = await tempDir('s3keys');
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(keys, 'key.pem'), kp.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(keys, 'pub.pem'), kp.publicKey.export({ type: 'spki', format: 'pem' }));
    const conn = ['--s3-endpoint', swift.endpoint, '--s3-region', 'us-east-1', '--s3-force-path-style'];
    const env = { AWS_ACCESS_KEY_ID: swift.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.secretAccessKey, AWS_PROFILE: '', AWS_SESSION_TOKEN: '' };
    const pub = await runCli(['publish', model.dir, 's3://models-bucket/cli', '--sign', 'key', '--private-key', path.join(keys, 'key.pem'), ...conn], { env });
    expect(pub.code, pub.stderr).toBe(0);

    const into = await target();
    const ok = await runCli(['pull', 's3://models-bucket/cli', '--into', into, '--public-key', path.join(keys, 'pub.pem'), ...conn, '--json'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await placedMatches(into, model)).toBe(true);
    expect(JSON.stringify(ok.stdout)).not.toContain(swift.secretAccessKey);
    expect(ok.stderr).not.toContain(swift.secretAccessKey);

    const bad = await runCli(['pull', 's3://models-bucket/cli', '--into', await target(), '--public-key', path.join(keys, 'pub.pem'), ...conn], {
      env: { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' },
    });
    expect(bad.code).toBe(7);
    expect(bad.logs.some((l) => l.code === 'AUTH_FAILED')).toBe(true);
    expect(bad.stderr).not.toContain('wrong-secret');

    const lock = await runCli(['pull', 's3://models-bucket/cli', '--into', await target(), '--public-key', path.join(keys, 'pub.pem'), ...conn, '--require-object-lock'], { env });
    expect(lock.code).toBe(6);
    expect(lock.logs.some((l) => l.code === 'OBJECT_LOCK_REQUIRED')).toBe(true);
  });
});
