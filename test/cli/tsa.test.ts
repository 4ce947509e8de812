import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';
import { TestPki } from '../helpers/pki.js';
import { startTsa, type TsaServer } from '../signatures/oms/tsa-server.js';

/** `sign key --tsa-url` → `verify key --tsa-cert-chain` through the built CLI, against an OpenSSL TSA. */
describe('--tsa-url / --tsa-cert-chain (CLI)', () => {
  let pki: TestPki;
  let tsa: TsaServer;
  let keys: string;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });

  beforeAll(async () => {
    pki = new TestPki();
    tsa = await startTsa(pki);
    keys = await tempDir('tsa-keys');
    await writeFile(path.join(keys, 'k.pem'), key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(keys, 'k.pub'), key.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(async () => {
    await tsa?.close();
    pki?.dispose();
  });

  it('stamps the signature and reports when it was made; a non-TSA chain is exit 2', async () => {
    const model = await makeModel({ 'w.bin': Buffer.alloc(5000, 1) });
    const signed = await runCli(['sign', 'key', model, '--private-key', path.join(keys, 'k.pem'), '--tsa-url', tsa.url]);
    expect(signed.code, signed.stderr).toBe(0);
    const bundle = JSON.parse(await readFile(path.join(model, 'model.sig'), 'utf8')) as Record<string, any>;
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const verified = await runCli(['verify', 'key', model, '--public-key', path.join(keys, 'k.pub'), '--tsa-cert-chain', tsa.chainPath, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ signer: { signedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } });
    const notTsa = path.join(keys, 'not-tsa.pem');
    await writeFile(notTsa, pki.root('plain-root', { type: 'ec', curve: 'P-256' }).certPem);
    expect((await runCli(['verify', 'key', model, '--public-key', path.join(keys, 'k.pub'), '--tsa-cert-chain', notTsa])).code).toBe(2);
  });

  it('an unreachable TSA fails signing (exit 7) and writes no bundle', async () => {
    const model = await makeModel({ 'w.bin': 'x' });
    const r = await runCli(['sign', 'key', model, '--private-key', path.join(keys, 'k.pem'), '--tsa-url', 'http://127.0.0.1:9/tsr']);
    expect(r.code).toBe(7);
    await expect(readFile(path.join(model, 'model.sig'))).rejects.toThrow();
  });
});
