import path from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { tempDir } from '../../harness/process.js';
import { sha256hex, skopeo, startRegistry, writeOciLayout, type RegistryServer } from '../../harness/registry.js';
import { bytes } from '../../helpers/model.js';
import { clientFor, fetchAll, gzip, makeTar, sha256 } from './helpers.js';

const desc = (mediaType: string, b: Buffer, annotations?: Record<string, string>) => ({
  mediaType, digest: `sha256:${sha256hex(b)}`, size: b.length, ...(annotations ? { annotations } : {}),
});

/** Layouts built here, pushed by skopeo, then listed and fetched by modelseal. */
describe('skopeo-pushed artefacts are read by modelseal', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => reg?.stop());

  async function pushLayout(repo: string, manifest: Record<string, unknown>, blobs: Buffer[]): Promise<string> {
    const dir = path.join(await tempDir('layout'), 'l');
    const { digest } = await writeOciLayout(dir, 'v1', manifest, blobs);
    await skopeo(['copy', ...reg.skopeoFlags('dest'), `oci:${dir}:v1`, `docker://${reg.host}/${repo}:v1`]);
    return digest;
  }

  it('ModelPack (cncf names): raw, tar, tar+gzip and tar+zstd layers', async () => {
    const weight = bytes(300_000, 1);
    const tok = Buffer.from('{"tok": 1}');
    const docTar = await makeTar([{ name: 'docs/', type: 'directory' }, { name: 'docs/a.md', content: 'A' }, { name: 'docs/sub/b.md', content: 'BB' }]);
    const codeTar = await makeTar([{ name: 'code/run.py', content: 'print(1)' }]);
    const cfgTar = await makeTar([{ name: 'tokenizer.json', content: tok }]);
    const codeZ = Buffer.from(zstdCompressSync(codeTar));
    const docGz = gzip(docTar);
    const config = Buffer.from(JSON.stringify({
      descriptor: { name: 'mp' }, config: {},
      modelfs: { type: 'layers', diffIds: [`sha256:${sha256(weight)}`, `sha256:${sha256(cfgTar)}`, `sha256:${sha256(docTar)}`, `sha256:${sha256(codeTar)}`] },
    }));
    const manifest = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: desc('application/vnd.cncf.model.config.v1+json', config),
      layers: [
        desc('application/vnd.cncf.model.weight.v1.raw', weight, { 'org.cncf.model.filepath': 'model.bin' }),
        desc('application/vnd.cncf.model.weight.config.v1.tar', cfgTar, {
          'org.cncf.model.filepath': 'tokenizer.json',
          'org.cncf.model.file.metadata+json': JSON.stringify({ name: 'tokenizer.json', mode: 420, uid: 0, gid: 0, size: tok.length, mtime: '1970-01-01T00:00:00Z', typeflag: 0 }),
        }),
        desc('application/vnd.cncf.model.doc.v1.tar+gzip', docGz, { 'org.cncf.model.filepath': 'docs' }),
        desc('application/vnd.cncf.model.code.v1.tar+zstd', codeZ, { 'org.cncf.model.filepath': 'code' }),
      ],
    };
    const digest = await pushLayout('interop/modelpack', manifest, [config, weight, cfgTar, docGz, codeZ]);
    const src = createOciSource(`oci://${reg.host}/interop/modelpack:v1`, await clientFor(reg));
    const r = await src.resolve();
    expect(r.resolvedDigest).toBe(digest);
    expect(r.facts?.format).toBe('modelpack');
    const entries = await src.list();
    expect(entries.map((e) => e.path).sort()).toEqual(['code/run.py', 'docs/a.md', 'docs/sub/b.md', 'model.bin', 'tokenizer.json']);
    expect(entries.find((e) => e.path === 'model.bin')!.sha256).toBe(sha256(weight));
    expect(entries.find((e) => e.path === 'tokenizer.json')!.facts!.packed).toBe('tar');
    const got = await fetchAll(src);
    expect(sha256(got.get('model.bin')!)).toBe(sha256(weight));
    expect(got.get('tokenizer.json')!.toString()).toBe(tok.toString());
    expect(got.get('docs/sub/b.md')!.toString()).toBe('BB');
    expect(got.get('code/run.py')!.toString()).toBe('print(1)');
    // A subset: only what is asked for is delivered.
    const some = await fetchAll(src, entries.filter((e) => e.path === 'docs/a.md'));
    expect([...some.keys()]).toEqual(['docs/a.md']);
    await src.close();
  });

  it('ModelPack legacy cnai names with diff_ids', async () => {
    const w = bytes(5000, 2);
    const config = Buffer.from(JSON.stringify({ descriptor: {}, config: {}, modelfs: { type: 'layers', diff_ids: [`sha256:${sha256(w)}`] } }));
    const manifest = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.cnai.model.manifest.v1+json',
      config: desc('application/vnd.cnai.model.config.v1+json', config),
      layers: [desc('application/vnd.cnai.model.weight.v1', w, { 'org.cnai.model.filepath': 'w/model.gguf' })],
    };
    await pushLayout('interop/cnai', manifest, [config, w]);
    const src = createOciSource(`oci://${reg.host}/interop/cnai:v1`, await clientFor(reg));
    expect((await src.resolve()).facts?.format).toBe('modelpack-cnai');
    const entries = await src.list();
    expect(entries).toMatchObject([{ path: 'w/model.gguf', sha256: sha256(w), size: w.length }]);
    expect(sha256((await fetchAll(src)).get('w/model.gguf')!)).toBe(sha256(w));
    await src.close();
  });

  it('ORAS: a raw file labelled .tar and a tar+gzip directory with content digest', async () => {
    const file = bytes(40_000, 4);
    const dirTar = await makeTar([{ name: 'weights/', type: 'directory' }, { name: 'weights/a.bin', content: 'aaa' }, { name: 'weights/b.bin', content: 'b' }]);
    const dirGz = gzip(dirTar);
    const empty = Buffer.from('{}');
    const manifest = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.unknown.artifact.v1',
      config: desc('application/vnd.oci.empty.v1+json', empty),
      layers: [
        desc('application/vnd.oci.image.layer.v1.tar', file, { 'org.opencontainers.image.title': 'model.onnx' }),
        desc('application/vnd.oci.image.layer.v1.tar+gzip', dirGz, {
          'org.opencontainers.image.title': 'weights', 'io.deis.oras.content.digest': `sha256:${sha256(dirTar)}`, 'io.deis.oras.content.unpack': 'true',
        }),
      ],
      annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' },
    };
    await pushLayout('interop/oras', manifest, [empty, file, dirGz]);
    const src = createOciSource(`oci://${reg.host}/interop/oras:v1`, await clientFor(reg));
    expect((await src.resolve()).facts?.format).toBe('oras');
    const entries = await src.list();
    expect(entries.map((e) => e.path).sort()).toEqual(['model.onnx', 'weights/a.bin', 'weights/b.bin']);
    expect(entries.find((e) => e.path === 'model.onnx')!.sha256).toBe(sha256(file));
    const got = await fetchAll(src);
    expect(sha256(got.get('model.onnx')!)).toBe(sha256(file));
    expect(got.get('weights/a.bin')!.toString()).toBe('aaa');
    await src.close();
  });

  it('KitOps ModelKit (no mediaType/artifactType, Kitfile config)', async () => {
    const modelTar = await makeTar([{ name: 'model.gguf', content: bytes(20_000, 5) }]);
    const docsTar = gzip(await makeTar([{ name: 'README.md', content: '# kit' }]));
    const kitfile = Buffer.from(JSON.stringify({
      manifestVersion: '1.0.0', package: { name: 'kit' },
      model: { name: 'm', path: 'model.gguf', digest: `sha256:${sha256(modelTar)}`, diffId: `sha256:${sha256(modelTar)}` },
      docs: [{ path: 'README.md', digest: `sha256:${sha256(docsTar)}` }],
    }));
    const manifest = {
      schemaVersion: 2,
      config: desc('application/vnd.kitops.modelkit.config.v1+json', kitfile),
      layers: [desc('application/vnd.kitops.modelkit.model.v1.tar', modelTar), desc('application/vnd.kitops.modelkit.docs.v1.tar+gzip', docsTar)],
      annotations: { 'ml.kitops.modelkit.cli-version': '1.0.0' },
    };
    await pushLayout('interop/kit', manifest, [kitfile, modelTar, docsTar]);
    const src = createOciSource(`oci://${reg.host}/interop/kit:v1`, await clientFor(reg));
    expect((await src.resolve()).facts?.format).toBe('kitops');
    const entries = await src.list();
    expect(entries.map((e) => e.path).sort()).toEqual(['README.md', 'model.gguf']);
    const got = await fetchAll(src);
    expect(sha256(got.get('model.gguf')!)).toBe(sha256(bytes(20_000, 5)));
    expect(got.get('README.md')!.toString()).toBe('# kit');
    await src.close();
  });
});
