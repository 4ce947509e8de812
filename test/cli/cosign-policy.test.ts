import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION } from '../../src/signatures/cosign/legacy.js';
import { tempDir } from '../harness/process.js';
import { startRegistry, type RegistryServer } from '../harness/registry.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';
import { clientFor, pushArtifact } from '../stores/oci/helpers.js';

/** A trust policy's `requireCosign`, end to end through `pull --policy`, against a real registry. */
describe('policy requireCosign (OCI, through the CLI)', () => {
  let registry: RegistryServer;
  let dir: string;
  const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await tempDir('cosign-policy');
    await writeFile(path.join(dir, 'release.pem'), release.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(dir, 'release.pub'), release.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(
      path.join(dir, 'policy.yaml'),
      [
        'apiVersion: modelseal/v1',
        'authorities:',
        '  release:',
        '    key: { publicKey: release.pub }',
        'models:',
        `  - match: "oci://${registry.host}/cosign/**"`,
        '    authorities: [release]',
        '    requireCosign: true',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => registry?.stop());

  const model = () => makeModel({ 'config.json': '{"a":1}', 'w.bin': Buffer.alloc(4096, 7) });
  const into = async () => path.join(await tempDir('cosign-into'), 'm');

  async function publish(repo: string, cosign: boolean): Promise<{ ref: string; digest: string }> {
    const ref = `oci://${registry.host}/cosign/${repo}:v1`;
    const r = await runCli(['publish', await model(), ref, '--sign', 'key', '--private-key', path.join(dir, 'release.pem'), '--plain-http', '--json', ...(cosign ? ['--cosign'] : [])]);
    expect(r.code, r.stderr).toBe(0);
    return { ref, digest: (JSON.parse(r.stdout) as { digest: string }).digest };
  }

  /** What `cosign sign --key` (legacy mode) leaves behind: a `sha256-<hex>.sig` tag. */
  async function legacySig(repo: string, digest: string, key: typeof release): Promise<void> {
    const payload = Buffer.from(`{"critical":{"identity":{"docker-reference":"${registry.host}/cosign/${repo}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`);
    await pushArtifact(`oci://${registry.host}/cosign/${repo}:${digest.replace(':', '-')}.sig`, await clientFor(registry), {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: Buffer.from('{}') },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: payload, annotations: { [ANNOTATION.signature]: sign('sha256', payload, key.privateKey).toString('base64') } }],
    });
  }

  const pull = async (ref: string, target: string) => runCli(['pull', ref, '--into', target, '--policy', path.join(dir, 'policy.yaml'), '--plain-http', '--json']);

  it('accepts a cosign v3 bundle referrer over the pulled digest, and records it in the receipt', async () => {
    const { ref } = await publish('v3', true);
    const target = await into();
    const r = await pull(ref, target);
    expect(r.code, r.stderr).toBe(0);
    const receipt = JSON.parse(await readFile(`${target}.receipt.json`, 'utf8'));
    expect(JSON.stringify(receipt.cosign)).toMatch(/cosign-bundle/);
  });

  it('accepts a legacy .sig signature by the trusted key', async () => {
    const { ref, digest } = await publish('legacy', false);
    await legacySig('legacy', digest, release);
    const target = await into();
    const r = await pull(ref, target);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(await readFile(`${target}.receipt.json`, 'utf8')).cosign)).toMatch(/cosign-legacy/);
  });

  it('refuses a model with no cosign signature, or one by an untrusted key, and places nothing', async () => {
    const none = await publish('none', false);
    let target = await into();
    let r = await pull(none.ref, target);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/SIGNATURE_MISSING: no cosign signature found for sha256:/);
    await expect(readFile(`${target}.receipt.json`)).rejects.toThrow();

    const rogue = await publish('rogue', false);
    await legacySig('rogue', rogue.digest, stranger);
    target = await into();
    r = await pull(rogue.ref, target);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/UNTRUSTED_SIGNER/);
    await expect(readFile(`${target}.receipt.json`)).rejects.toThrow();
  });
});

/** A policy `threshold`: distinct trusted authorities must each have signed the same model. */
describe('policy threshold (OCI, through the CLI)', () => {
  let registry: RegistryServer;
  let dir: string;
  const keys = { a: generateKeyPairSync('ec', { namedCurve: 'P-256' }), b: generateKeyPairSync('ec', { namedCurve: 'P-384' }) };

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await tempDir('threshold-policy');
    for (const [name, k] of Object.entries(keys)) {
      await writeFile(path.join(dir, `${name}.pem`), k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await writeFile(path.join(dir, `${name}.pub`), k.publicKey.export({ type: 'spki', format: 'pem' }));
    }
    await writeFile(
      path.join(dir, 'policy.yaml'),
      [
        'apiVersion: modelseal/v1',
        'authorities:',
        '  release-a:',
        '    key: { publicKey: a.pub }',
        '  release-b:',
        '    key: { publicKey: b.pub }',
        'models:',
        `  - match: "oci://${registry.host}/two/**"`,
        '    authorities: [release-a, release-b]',
        '    threshold: 2',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => registry?.stop());

  it('one signature is refused (exit 6); a second authority signing the same digest lets it through', async () => {
    const m = await makeModel({ 'config.json': '{"a":2}', 'w.bin': Buffer.alloc(2048, 9) });
    const ref = `oci://${registry.host}/two/m:v1`;
    const publish = async (k: string) => {
      const r = await runCli(['publish', m, ref, '--sign', 'key', '--private-key', path.join(dir, `${k}.pem`), '--plain-http', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { digest: string }).digest;
    };
    const first = await publish('a');
    const pullTo = async () => {
      const target = path.join(await tempDir('threshold-into'), 'm');
      return { target, r: await runCli(['pull', ref, '--into', target, '--policy', path.join(dir, 'policy.yaml'), '--plain-http']) };
    };
    let { target, r } = await pullTo();
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/policy needs 2 authorities to sign this model; 1 did \(release-a\)/);
    await expect(readFile(`${target}.receipt.json`)).rejects.toThrow();

    // The second signer signs their copy of the same files and attaches the bundle.
    const bSig = path.join(dir, 'b.sig');
    const signed = await runCli(['sign', 'key', m, '--private-key', path.join(dir, 'b.pem'), '--signature', bSig]);
    expect(signed.code, signed.stderr).toBe(0);
    const attached = await runCli(['attach', ref, '--signature', bSig, '--plain-http', '--json']);
    expect(attached.code, attached.stderr).toBe(0);
    expect(JSON.parse(attached.stdout)).toMatchObject({ digest: first, referrer: expect.stringMatching(/^sha256:/) });
    ({ target, r } = await pullTo());
    expect(r.code, r.stderr).toBe(0);
  });

  it('attach refuses a bundle over other files before pushing anything', async () => {
    const m = await makeModel({ 'config.json': '{"a":3}', 'w.bin': Buffer.alloc(2048, 1) });
    const ref = `oci://${registry.host}/two/other:v1`;
    expect((await runCli(['publish', m, ref, '--sign', 'key', '--private-key', path.join(dir, 'a.pem'), '--plain-http'])).code).toBe(0);
    const changed = await makeModel({ 'config.json': '{"a":3}', 'w.bin': Buffer.alloc(2048, 2) });
    const extra = await makeModel({ 'config.json': '{"a":3}', 'w.bin': Buffer.alloc(2048, 1), 'x.py': 'import os' });
    for (const [other, code, why] of [[changed, 4, /DIGEST_MISMATCH/], [extra, 5, /FILE_MISSING/]] as const) {
      const sig = path.join(await tempDir('attach-other'), 'model.sig');
      expect((await runCli(['sign', 'key', other, '--private-key', path.join(dir, 'b.pem'), '--signature', sig])).code).toBe(0);
      const r = await runCli(['attach', ref, '--signature', sig, '--plain-http']);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(why);
    }
    const junk = path.join(await tempDir('attach-junk'), 'model.sig');
    await writeFile(junk, '{"mediaType":');
    expect((await runCli(['attach', ref, '--signature', junk, '--plain-http'])).code).toBe(3);
    // Nothing was attached: the model still has only release-a's signature.
    const target = path.join(await tempDir('attach-into'), 'm');
    const r = await runCli(['pull', ref, '--into', target, '--policy', path.join(dir, 'policy.yaml'), '--plain-http']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/1 did \(release-a\)/);
  });
});

