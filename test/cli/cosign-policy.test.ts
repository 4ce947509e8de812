import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION } from '../../src/verification/cosign-legacy.js';
import { tempDir } from '../harness/process.js';
import { startRegistry, type RegistryServer } from '../harness/registry.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';
import { clientFor, pushArtifact } from '../oci/helpers.js';

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
