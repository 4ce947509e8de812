import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { publishOci } from '../../../src/stores/oci/publish.js';
import { isModelsealError } from '../../../src/errors.js';
import { tempDir } from '../../harness/process.js';
import { skopeo, startRegistry, type RegistryAuth, type RegistryServer } from '../../harness/registry.js';
import { bytes, makeModel } from '../../helpers/model.js';
import { clientFor, fakeOmsBundle, fetchAll, fileList, sha256 } from './helpers.js';

const variants: Array<{ name: string; auth: RegistryAuth; tls: boolean }> = [
  { name: 'plain', auth: 'none', tls: false },
  { name: 'htpasswd', auth: 'htpasswd', tls: false },
  { name: 'token', auth: 'token', tls: false },
  { name: 'tls', auth: 'none', tls: true },
];

describe.each(variants)('publish → pull round trip, registry $name', ({ auth, tls }) => {
  let reg: RegistryServer;
  let dir: string;
  const rels = ['model.safetensors', 'config.json', 'nested/part-0001.bin', 'empty.txt', 'README.md'];
  beforeAll(async () => {
    reg = await startRegistry({ auth, tls });
    dir = await makeModel({
      'model.safetensors': bytes(3 * 1024 * 1024 + 17, 7),
      'config.json': '{"hidden_size": 8}',
      'nested/part-0001.bin': bytes(70_000, 9),
      'empty.txt': '',
      'README.md': '# model',
    }, 'tiny');
  });
  afterAll(async () => reg?.stop());

  it('publishes a ModelPack artefact that lists, fetches and verifies byte for byte', async () => {
    const opts = await clientFor(reg);
    const files = await fileList(dir, rels);
    const bundleJson = fakeOmsBundle('roundtrip');
    const pub = await publishOci({ dir, ref: `oci://${reg.host}/models/tiny:v1`, files, bundleJson, client: opts });
    expect(pub.digest).toMatch(/^sha256:[a-f0-9]{64}$/);

    const src = createOciSource(`oci://${reg.host}/models/tiny:v1`, opts);
    const resolved = await src.resolve();
    expect(resolved.resolvedDigest).toBe(pub.digest);
    expect(resolved.facts?.format).toBe('modelpack');
    const entries = await src.list();
    expect(entries.map((e) => e.path).sort()).toEqual([...rels].sort());
    for (const f of files) {
      const e = entries.find((x) => x.path === f.path)!;
      expect(e.sha256).toBe(f.sha256);
      expect(e.size).toBe(f.size);
    }
    const sigs = await src.signatures();
    const oms = sigs.filter((s) => s.kind === 'oms');
    expect(oms).toHaveLength(1);
    expect(Buffer.from(await oms[0]!.read()).toString()).toBe(bundleJson);
    const got = await fetchAll(src);
    for (const f of files) expect(sha256(got.get(f.path)!)).toBe(f.sha256);
    await src.close();

    // Pinned by digest: same manifest, no tag involved.
    const pinned = createOciSource(pub.reference, opts);
    expect((await pinned.resolve()).resolvedDigest).toBe(pub.digest);
    await pinned.close();
  });

  it('skopeo copies our artefact to an OCI layout with the same manifest digest', async () => {
    const out = path.join(await tempDir('skopeo-out'), 'layout');
    const opts = await clientFor(reg);
    const pub = await publishOci({ dir, ref: `oci://${reg.host}/models/tiny:v2`, files: await fileList(dir, rels), bundleJson: fakeOmsBundle(), client: opts });
    await skopeo(['copy', ...reg.skopeoFlags('src'), `docker://${reg.host}/models/tiny:v2`, `oci:${out}:v2`]);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(pub.digest);
  });

  if (auth !== 'none') {
    it('refuses wrong credentials with AUTH_FAILED', async () => {
      const opts = await clientFor(reg, { credentials: { username: 'alice', password: 'wrong' } });
      const src = createOciSource(`oci://${reg.host}/models/tiny:v1`, opts);
      const err = await src.resolve().catch((e: unknown) => e);
      expect(isModelsealError(err, 'AUTH_FAILED')).toBe(true);
      await src.close();
    });
  }
});
