import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../../src/app/pull.js';
import { serializeDirectory } from '../../../src/model/serialize.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { publishAzure } from '../../../src/stores/azure/publish.js';
import { createAzureSource } from '../../../src/stores/azure/source.js';
import type { AzureOptions } from '../../../src/stores/azure/options.js';
import { startAzurite, type AzuriteServer } from '../../harness/azurite.js';
import { tempDir } from '../../harness/process.js';
import { runCli } from '../../helpers/cli.js';
import { trustOf } from '../../helpers/trust.js';
import { makeModel, type ModelFixture } from '../s3/helpers.js';
import { fetchAll } from '../oci/helpers.js';
import { leftovers, placedMatches, target } from '../s3/signed.js';
import type { Authority } from '../../../src/signatures/core/types.js';

// The S3 tests' model and refusals, against Azurite: listing, ETag pins, Content-MD5, SAS, and
// the one pull pipeline. Azurite has no versions, immutability policies or legal holds
// (immutability.test.ts covers those against the real Get Blob Properties headers).
let az: AzuriteServer;
let model: ModelFixture;
let service: BlobServiceClient;
let n = 0;
const CONTAINER = 'models';
/** The release key: the signature the real pipeline verifies before any weight moves. */
const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const trusted: Authority[] = [{ kind: 'key', name: 'release', publicKeys: [release.publicKey] }];
const trustedPrivateKey = release.privateKey;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

beforeAll(async () => {
  [az, model] = await Promise.all([startAzurite(), makeModel(3 * 1024 * 1024 + 12345)]);
  service = BlobServiceClient.fromConnectionString(az.connectionString);
  await service.getContainerClient(CONTAINER).create();
});
afterAll(async () => {
  await az?.stop();
  await model?.cleanup();
});

const opts = (extra: AzureOptions = {}): AzureOptions => ({ connectionString: az.connectionString, uploadBlockSize: 1024 * 1024, env: {}, ...extra });
const urlFor = (prefix: string) => `az://${az.account}/${CONTAINER}/${prefix}`;

async function publishSigned(url: string, key = trustedPrivateKey): Promise<string> {
  const manifest = await serializeDirectory(model.dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] });
  const bundleJson = await signManifest(manifest, { kind: 'key', privateKey: key });
  await publishAzure({ dir: model.dir, url, files: model.files, bundleJson, azure: opts() });
  return bundleJson;
}

async function fresh() {
  const prefix = `m${++n}`;
  const url = urlFor(prefix);
  await publishSigned(url);
  const c = service.getContainerClient(CONTAINER);
  return {
    url,
    prefix,
    put: (rel: string, body: Buffer | string) => c.getBlockBlobClient(`${prefix}/${rel}`).upload(body, Buffer.byteLength(body)),
    del: (rel: string) => c.getBlobClient(`${prefix}/${rel}`).delete(),
    blob: (rel: string) => c.getBlobClient(`${prefix}/${rel}`),
  };
}

async function run(url: string, extra: { ignoreUnsignedFiles?: boolean } = {}) {
  const into = await target();
  const p = pull({ reference: url, source: createAzureSource(url, opts()), trust: trustOf(trusted, extra), into, concurrency: 3 });
  return { into, p };
}

describe('Azure Blob source and publish (Azurite)', () => {
  it('publishes in blocks (Content-MD5 and sha256 metadata set) and reads every byte back, pinned by ETag', async () => {
    const m = await fresh();
    const big = await m.blob('weights/model-00001.dat').getProperties();
    expect(big.metadata?.sha256).toBe(model.files.find((f) => f.path === 'weights/model-00001.dat')!.sha256);
    expect(Buffer.from(big.contentMD5!).toString('hex')).toBe(createHash('md5').update(model.bytes.get('weights/model-00001.dat')!).digest('hex'));
    const src = createAzureSource(m.url, opts());
    const r = await src.resolve();
    expect(r.facts).toMatchObject({ account: az.account, container: CONTAINER, prefix: `${m.prefix}/`, blobs: model.files.length, pinning: 'etag', immutability: 'none' });
    const entries = await src.list();
    expect(entries.map((e) => e.path)).toEqual(model.files.map((f) => f.path).sort());
    expect(entries.every((e) => typeof e.facts?.etag === 'string' && typeof e.facts?.contentMd5 === 'string')).toBe(true);
    const sigs = await src.signatures();
    expect(sigs).toEqual([expect.objectContaining({ kind: 'oms', origin: `${m.url}/model.sig` })]);
    const got = await fetchAll(src);
    for (const [rel, buf] of model.bytes) expect(got.get(rel)?.equals(buf), rel).toBe(true);
    await src.close();
  });

  it('verifies, places and records ETag and Content-MD5 per file through the pull pipeline', async () => {
    const m = await fresh();
    const { into, p } = await run(m.url);
    const res = await p;
    expect(await placedMatches(into, model)).toBe(true);
    expect((await stat(path.join(into, 'empty.bin'))).size).toBe(0);
    const receipt = JSON.parse(await readFile(res.receiptPath, 'utf8'));
    expect(receipt.signature.origin).toBe(`${m.url}/model.sig`);
    expect(receipt.model.files[0].facts).toMatchObject({ etag: expect.any(String), contentMd5: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('fails cleanly with 412 when a blob is overwritten after listing (ETag pin)', async () => {
    const m = await fresh();
    const src = createAzureSource(m.url, opts());
    await src.resolve();
    const entries = await src.list();
    await m.put('config.json', '{"changed":true}');
    await expect(fetchAll(src, entries.filter((e) => e.path === 'config.json'))).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: expect.stringMatching(/412/) });
  });

  it('refuses bytes that disagree with the stored Content-MD5 (DIGEST_MISMATCH), even unsigned', async () => {
    const m = await fresh();
    await m.blob('config.json').setHTTPHeaders({ blobContentMD5: createHash('md5').update('something else').digest(), blobContentType: 'application/json' });
    const src = createAzureSource(m.url, opts());
    await src.resolve();
    const entries = (await src.list()).filter((e) => e.path === 'config.json');
    await expect(fetchAll(src, entries)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/Content-MD5/) });
  });

  it('refuses an unsigned extra blob before downloading, or skips it with ignoreUnsignedFiles', async () => {
    const m = await fresh();
    await m.put('extra.py', 'import os\n');
    const a = await run(m.url);
    await expect(a.p).rejects.toMatchObject({ code: 'FILE_UNSIGNED', message: expect.stringMatching(/extra\.py/) });
    expect(await leftovers(a.into)).toEqual([]);
    const b = await run(m.url, { ignoreUnsignedFiles: true });
    await expect(stat(path.join((await b.p).placedAt, 'extra.py'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a deleted signed blob, a missing zero-byte file, and a removed signature', async () => {
    const m = await fresh();
    await m.del('weights/small.bin');
    await expect((await run(m.url)).p).rejects.toMatchObject({ code: 'FILE_MISSING', message: expect.stringMatching(/small\.bin/) });
    const e = await fresh();
    await e.del('empty.bin');
    await expect((await run(e.url)).p).rejects.toMatchObject({ code: 'FILE_MISSING', message: expect.stringMatching(/empty\.bin/) });
    const s = await fresh();
    await s.del('model.sig');
    await expect((await run(s.url)).p).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
  });

  it('refuses a blob overwritten after signing (same size, or another size)', async () => {
    const m = await fresh();
    const big = Buffer.from(model.bytes.get('weights/model-00001.dat')!);
    big[big.length - 1]! ^= 0xff;
    await m.put('weights/model-00001.dat', big);
    const a = await run(m.url);
    await expect(a.p).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/model-00001/) });
    expect(await leftovers(a.into)).toEqual([]);
    await m.put('config.json', '{"architectures":["Evil"]}');
    await expect((await run(m.url)).p).rejects.toMatchObject({ exitCode: 4, message: expect.stringMatching(/config\.json/) });
  });

  it('refuses an unsafe blob name before any download', async () => {
    const m = await fresh();
    await m.put('a\\..\\evil.bin', 'x');
    await expect(createAzureSource(m.url, opts()).resolve()).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
  });

  it('--require-immutability refuses Azurite blobs (no retention policy or legal hold there)', async () => {
    const m = await fresh();
    await expect(createAzureSource(m.url, opts({ requireImmutability: true })).resolve()).rejects.toMatchObject({ code: 'IMMUTABILITY_REQUIRED', exitCode: 6 });
  });

  it('credentials: shared key and a read-only container SAS work; a wrong key is AUTH_FAILED; a missing container or prefix NOT_FOUND', async () => {
    const m = await fresh();
    const endpoint = az.blobEndpoint;
    const keyed = createAzureSource(m.url, { endpoint, accountKey: az.accountKey, env: {} });
    expect((await keyed.resolve()).facts?.blobs).toBe(model.files.length);
    const sas = generateBlobSASQueryParameters(
      { containerName: CONTAINER, permissions: ContainerSASPermissions.parse('rl'), expiresOn: new Date(Date.now() + 3600_000) },
      new StorageSharedKeyCredential(az.account, az.accountKey),
    ).toString();
    const viaSas = createAzureSource(m.url, { endpoint, sasToken: sas, env: {} });
    await viaSas.resolve();
    expect((await fetchAll(viaSas)).size).toBe(model.files.length);
    // The same variables the SDK's users set in a pod: AZURE_STORAGE_SAS_TOKEN.
    await expect(createAzureSource(m.url, { endpoint, env: { AZURE_STORAGE_SAS_TOKEN: sas } }).resolve()).resolves.toBeTruthy();
    const wrong = Buffer.from(az.accountKey, 'base64');
    wrong[0]! ^= 1;
    await expect(createAzureSource(m.url, { endpoint, accountKey: wrong.toString('base64'), env: {} }).resolve()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(publishAzure({ dir: model.dir, url: urlFor('nope'), files: model.files, bundleJson: '{}', azure: { endpoint, accountKey: wrong.toString('base64'), env: {} } }))
      .rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(createAzureSource(`az://${az.account}/missing-container/m`, opts()).resolve()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(createAzureSource(urlFor('nothing-here'), opts()).resolve()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('publish refuses a prefix holding unrelated blobs, and a file changed after signing never becomes visible', async () => {
    const m = await fresh();
    await m.put('stranger.bin', 'x');
    await expect(publishSigned(m.url)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/stranger\.bin/) });

    const manifest = await serializeDirectory(model.dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] });
    const bundleJson = await signManifest(manifest, { kind: 'key', privateKey });
    await appendFile(path.join(model.dir, 'config.json'), ' ');
    try {
      const url = urlFor(`changed${++n}`);
      await expect(publishAzure({ dir: model.dir, url, files: model.files, bundleJson, azure: opts() })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      const names: string[] = [];
      for await (const b of service.getContainerClient(CONTAINER).listBlobsFlat({ prefix: url.split(`${CONTAINER}/`)[1] })) names.push(b.name);
      expect(names.some((x) => x.endsWith('config.json') || x.endsWith('model.sig'))).toBe(false);
    } finally {
      const f = path.join(model.dir, 'config.json');
      await (await import('node:fs/promises')).writeFile(f, model.bytes.get('config.json')!);
    }
  });

  it('CLI: init and pull from az:// with AZURE_STORAGE_CONNECTION_STRING and a policy rule over az:// references', async () => {
    const m = await fresh();
    const dir = await tempDir('az-cli');
    await writeFile(path.join(dir, 'release.pub'), release.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(dir, 'policy.yaml'), [
      'apiVersion: modelseal/v1',
      'authorities:',
      '  release: { key: { publicKey: release.pub } }',
      'models:',
      `  - match: "az://${az.account}/${CONTAINER}/**"`,
      '    authorities: [release]',
    ].join('\n') + '\n');
    const env = { AZURE_STORAGE_CONNECTION_STRING: az.connectionString };
    const into = path.join(await tempDir('az-into'), 'm');
    const init = await runCli(['init', '--source', m.url, '--into', into, '--policy', path.join(dir, 'policy.yaml')], { env });
    expect(init.code, init.stderr).toBe(0);
    expect(await placedMatches(into, model)).toBe(true);
    const pulled = await runCli(['pull', m.url, '--into', path.join(await tempDir('az-into'), 'm'), '--policy', path.join(dir, 'policy.yaml')], { env });
    expect(pulled.code, pulled.stderr).toBe(0);
  });
});
