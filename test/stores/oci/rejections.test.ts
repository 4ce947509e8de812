import { writeFile, readFile } from 'node:fs/promises';
import { zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError, type ErrorCode } from '../../../src/errors.js';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { publishOci } from '../../../src/stores/oci/publish.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { bytes, makeModel } from '../../helpers/model.js';
import { clientFor, collectingSink, fakeOmsBundle, fetchAll, fileList, makeTar, modelPackConfig, pushArtifact, sha256, gzip } from './helpers.js';
import { startFaultProxy } from './proxy.js';

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    if (isModelsealError(err)) return err.code;
    throw err;
  }
}

describe('OCI rejections against a real registry', () => {
  let reg: RegistryServer;
  let dir: string;
  const big = bytes(2 * 1024 * 1024, 3);
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    dir = await makeModel({ 'w.bin': big, 'config.json': '{}' }, 'm');
  });
  afterAll(async () => reg?.stop());

  async function publish(tag: string, files = ['w.bin', 'config.json']) {
    return publishOci({ dir, ref: `oci://${reg.host}/rej/m:${tag}`, files: await fileList(dir, files), bundleJson: fakeOmsBundle(), client: await clientFor(reg) });
  }

  it('a blob corrupted on the registry disk fails with DIGEST_MISMATCH (same size) or SIZE_MISMATCH', async () => {
    const d = await makeModel({ 'c.bin': bytes(100_000, 11) }, 'c');
    const files = await fileList(d, ['c.bin']);
    const pub = await publishOci({ dir: d, ref: `oci://${reg.host}/rej/corrupt:v1`, files, bundleJson: fakeOmsBundle(), client: await clientFor(reg) });
    const p = reg.blobPath(`sha256:${files[0]!.sha256}`);
    const orig = await readFile(p);
    const bad = Buffer.from(orig);
    bad[5000] ^= 0xff;
    await writeFile(p, bad);
    const src = createOciSource(pub.reference, await clientFor(reg));
    await src.resolve();
    expect(await codeOf(fetchAll(src))).toBe('DIGEST_MISMATCH');
    await writeFile(p, Buffer.concat([orig, Buffer.from('x')]));
    expect(await codeOf(fetchAll(src))).toBe('SIZE_MISMATCH');
    await src.close();
  });

  it('a manifest replaced on disk under its digest fails with DIGEST_MISMATCH', async () => {
    const pub = await publish('replaced');
    const p = reg.blobPath(pub.digest);
    const m = JSON.parse(await readFile(p, 'utf8')) as { layers: unknown[] };
    m.layers = m.layers.slice(0, 1);
    await writeFile(p, JSON.stringify(m));
    const src = createOciSource(pub.reference, await clientFor(reg));
    expect(await codeOf(src.resolve())).toBe('DIGEST_MISMATCH');
    await src.close();
  });

  it('an oversize manifest is refused while streaming, before parsing (REGISTRY_PROTOCOL)', async () => {
    // Registry 2.8.2 will neither store nor serve a manifest over 4 MiB, so a proxy plays the hostile registry.
    const proxy = await startFaultProxy({ upstream: reg.url(''), oversizeManifest: 5 * 1024 * 1024 });
    try {
      const src = createOciSource(`oci://${proxy.host}/rej/m:any`, await clientFor(reg, { credentials: { username: reg.user, password: reg.password } }));
      const err = await src.resolve().catch((e: unknown) => e);
      expect(isModelsealError(err, 'REGISTRY_PROTOCOL')).toBe(true);
      expect((err as Error).message).toMatch(/4194304-byte limit/);
      await src.close();
    } finally {
      await proxy.close();
    }
  });

  describe('hostile tar layers are refused with ARCHIVE_UNSAFE', () => {
    const cases: Array<[string, Parameters<typeof makeTar>[0]]> = [
      ['traversal', [{ name: 'd/../../evil.txt', content: 'x' }]],
      ['absolute path', [{ name: '/etc/evil', content: 'x' }]],
      ['escaping symlink', [{ name: 'd/link', type: 'symlink', linkname: '../../../etc/passwd' }]],
      ['escaping hard link', [{ name: 'd/hard', type: 'link', linkname: '../outside' }]],
      ['device', [{ name: 'd/null', type: 'character-device' }]],
      ['entry outside the declared path', [{ name: 'other/file', content: 'x' }]],
    ];
    it.each(cases)('%s', async (name, entries) => {
      const tar = await makeTar([{ name: 'd/', type: 'directory' }, { name: 'd/ok.txt', content: 'fine' }, ...entries]);
      const layer = gzip(tar);
      const tag = name.replace(/\W+/g, '-');
      await pushArtifact(`oci://${reg.host}/rej/tar:${tag}`, await clientFor(reg), {
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${sha256(tar)}`]) },
        layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip', bytes: layer, annotations: { 'org.cncf.model.filepath': 'd' } }],
      });
      const src = createOciSource(`oci://${reg.host}/rej/tar:${tag}`, await clientFor(reg));
      await src.resolve();
      const err = await src.list().catch((e: unknown) => e);
      expect(isModelsealError(err, 'ARCHIVE_UNSAFE')).toBe(true);
      await src.close();
    });

    it.each([
      ['gzip', 'tar+gzip', gzip],
      ['zstd', 'tar+zstd', (b: Buffer) => Buffer.from(zstdCompressSync(b))],
    ] as const)('a %s decompression bomb stops at the expansion limit', async (name, suffix, compress) => {
      // 8 MiB of zeros squeezes to a few KiB; with a 1 MiB floor and 10x ratio it must stop early.
      const tar = await makeTar([{ name: 'd/zeros.bin', content: Buffer.alloc(8 * 1024 * 1024) }]);
      const layer = compress(tar);
      expect(layer.length * 10).toBeLessThan(1024 * 1024);
      const ref = `oci://${reg.host}/rej/tar:bomb-${name}`;
      await pushArtifact(ref, await clientFor(reg), {
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${sha256(tar)}`]) },
        layers: [{ mediaType: `application/vnd.cncf.model.weight.v1.${suffix}`, bytes: layer, annotations: { 'org.cncf.model.filepath': 'd' } }],
      });
      const expansion = { ratio: 10, floor: 1024 * 1024 };
      const src = createOciSource(ref, await clientFor(reg, { expansion }));
      await src.resolve();
      const err = await src.list().catch((e: unknown) => e);
      expect(isModelsealError(err, 'ARCHIVE_UNSAFE')).toBe(true);
      expect((err as Error).message).toMatch(/expands past 1048576 bytes .*decompression bomb/);
      await src.close();
      // The same layer within the default limit lists fine: the cap is what refused it.
      const ok = createOciSource(ref, await clientFor(reg));
      await ok.resolve();
      expect((await ok.list()).map((e) => e.path)).toEqual(['d/zeros.bin']);
      await ok.close();
    });

    it('a diffId that does not match the uncompressed stream fails with DIGEST_MISMATCH', async () => {
      const tar = await makeTar([{ name: 'd/a.txt', content: 'a' }]);
      await pushArtifact(`oci://${reg.host}/rej/tar:diffid`, await clientFor(reg), {
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${'1'.repeat(64)}`]) },
        layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip', bytes: gzip(tar), annotations: { 'org.cncf.model.filepath': 'd' } }],
      });
      const src = createOciSource(`oci://${reg.host}/rej/tar:diffid`, await clientFor(reg));
      await src.resolve();
      expect(await codeOf(src.list())).toBe('DIGEST_MISMATCH');
      await src.close();
    });
  });

  describe('a stream cut mid-blob', () => {
    it('resumes with Range when the server honours it, and the bytes verify', async () => {
      const pub = await publish('cut');
      const proxy = await startFaultProxy({ upstream: reg.url(''), cutAfter: 700_000 });
      try {
        const src = createOciSource(`oci://${proxy.host}/rej/m@${pub.digest}`, await clientFor(reg, { credentials: { username: reg.user, password: reg.password } }));
        await src.resolve();
        const entries = (await src.list()).filter((e) => e.path === 'w.bin');
        const got = await fetchAll(src, entries);
        expect(sha256(got.get('w.bin')!)).toBe(sha256(big));
        expect(proxy.blobRequests.some((r) => r.range === 'bytes=700000-' && r.status === 206)).toBe(true);
        await src.close();
      } finally {
        await proxy.close();
      }
    });

    it('fails cleanly with NETWORK when the server ignores Range (200), delivering no extra bytes', async () => {
      const pub = await publish('cut2');
      const proxy = await startFaultProxy({ upstream: reg.url(''), cutAfter: 500_000, stripRange: true });
      try {
        const src = createOciSource(`oci://${proxy.host}/rej/m@${pub.digest}`, await clientFor(reg, { credentials: { username: reg.user, password: reg.password } }));
        await src.resolve();
        const entries = (await src.list()).filter((e) => e.path === 'w.bin');
        const { files, sink } = collectingSink();
        const err = await src.fetch(entries, sink, { concurrency: 1 }).catch((e: unknown) => e);
        expect(isModelsealError(err, 'NETWORK')).toBe(true);
        expect((err as Error).message).toMatch(/ignored Range/);
        expect(files.size).toBe(0);
        await src.close();
      } finally {
        await proxy.close();
      }
    });
  });

  it('never sends Authorization to another origin on a blob redirect', async () => {
    const pub = await publish('redirect');
    const proxy = await startFaultProxy({ upstream: reg.url(''), redirectTo: (d) => reg.blobPath(d) });
    try {
      const src = createOciSource(`oci://${proxy.host}/rej/m@${pub.digest}`, await clientFor(reg, { credentials: { username: reg.user, password: reg.password } }));
      await src.resolve();
      const got = await fetchAll(src);
      expect(sha256(got.get('w.bin')!)).toBe(sha256(big));
      expect(proxy.blobOriginAuth.length).toBeGreaterThan(0);
      expect(proxy.blobOriginAuth.every((a) => a === undefined)).toBe(true);
      await src.close();
    } finally {
      await proxy.close();
    }
  });

  it('refuses plain HTTP unless allowed', async () => {
    const src = createOciSource(`oci://${reg.host}/rej/m:cut`, await clientFor(reg, { plainHttp: false }));
    expect(await codeOf(src.resolve())).toBe('NETWORK');
    await src.close();
  });
});
