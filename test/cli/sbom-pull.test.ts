import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryServer } from '../harness/registry.js';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';

/** A tiny but well-formed model: the pull-time scan parses config.json and safetensors headers. */
function safetensors(): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }).padEnd(48, ' '));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.alloc(8)]);
}

describe('publish --sbom and pull --require-sbom (OCI, through the CLI)', () => {
  let registry: RegistryServer;
  let keys: { key: string; pub: string; otherPub: string };
  beforeAll(async () => {
    registry = await startRegistry();
    const dir = await tempDir('sbom-keys');
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keys = { key: path.join(dir, 'k.pem'), pub: path.join(dir, 'k.pub'), otherPub: path.join(dir, 'o.pub') };
    await writeFile(keys.key, a.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(keys.pub, a.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(keys.otherPub, b.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(async () => registry?.stop());

  const model = () => makeModel({ 'config.json': '{"model_type":"tiny","architectures":["Tiny"]}', 'model.safetensors': safetensors() });
  const into = async () => path.join(await tempDir('sbom-into'), 'm');

  it('a model published with a signed SBOM pulls with --require-sbom, and the receipt names the SBOM', async () => {
    const ref = `oci://${registry.host}/sbom/with:v1`;
    const pub = await runCli(['publish', await model(), ref, '--sign', 'key', '--private-key', keys.key, '--sbom', '--plain-http', '--json']);
    expect(pub.code, pub.stderr).toBe(0);
    const target = await into();
    const r = await runCli(['pull', ref, '--into', target, '--public-key', keys.pub, '--require-sbom', '--plain-http', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const receipt = JSON.parse(await readFile(`${target}.receipt.json`, 'utf8'));
    expect(receipt.sbom.origin).toMatch(/^referrer sha256:/);
    expect(receipt.sbom.signer.method).toBe('key');
  });

  it('a model without an SBOM is refused with --require-sbom (exit 6), and nothing is placed', async () => {
    const ref = `oci://${registry.host}/sbom/without:v1`;
    expect((await runCli(['publish', await model(), ref, '--sign', 'key', '--private-key', keys.key, '--plain-http'])).code).toBe(0);
    const target = await into();
    const r = await runCli(['pull', ref, '--into', target, '--public-key', keys.pub, '--require-sbom', '--plain-http']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/SBOM_REQUIRED/);
    await expect(readFile(`${target}.receipt.json`)).rejects.toThrow();
  });

  it('an SBOM signed by a key the puller does not trust is refused', async () => {
    const ref = `oci://${registry.host}/sbom/other:v1`;
    expect((await runCli(['publish', await model(), ref, '--sign', 'key', '--private-key', keys.key, '--sbom', '--plain-http'])).code).toBe(0);
    // Trusting only another key: the model signature fails first (exit 3); the SBOM is never trusted on its own.
    const r = await runCli(['pull', ref, '--into', await into(), '--public-key', keys.otherPub, '--require-sbom', '--plain-http']);
    expect(r.code).toBe(3);
  });
});

describe('sbom of a remote model', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  it('describes an OCI artefact from a temporary copy, with the pinned digest as its location', async () => {
    const dir = await tempDir('remote-sbom-keys');
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = path.join(dir, 'k.pem');
    await writeFile(key, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const m = await makeModel({ 'config.json': '{"model_type":"tiny","architectures":["TinyForCausalLM"]}', 'model.safetensors': safetensors() });
    const ref = `oci://${registry.host}/sbom/remote:v1`;
    expect((await runCli(['publish', m, ref, '--sign', 'key', '--private-key', key, '--plain-http'])).code).toBe(0);
    const out = path.join(dir, 'remote.spdx.json');
    const r = await runCli(['sbom', ref, '--format', 'spdx3', '--output', out, '--plain-http', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const local = await runCli(['sbom', m, '--format', 'spdx3', '--json', '--output', path.join(dir, 'local.spdx.json')]);
    expect(JSON.parse(r.stdout).rootDigest).toBe(JSON.parse(local.stdout).rootDigest);
    expect(await readFile(out, 'utf8')).toMatch(/@sha256:[0-9a-f]{64}/);
  });
});
