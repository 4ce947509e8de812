import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';
import { TestPki } from '../helpers/pki.js';
import { SOFTHSM_MODULE, SoftHsm } from '../signatures/core/softhsm.js';

/** `sign pkcs11-key` / `sign pkcs11-certificate` through the built CLI against a fresh SoftHSM2 token. */
describe('sign pkcs11-key | pkcs11-certificate (CLI, SoftHSM2)', () => {
  const PIN = '1357911';
  let hsm: SoftHsm;
  let pki: TestPki;
  let chain: ReturnType<TestPki['chain']>;
  let pub: string;

  beforeAll(async () => {
    hsm = new SoftHsm();
    hsm.initToken('cli', PIN);
    hsm.generateEcKey('cli', PIN, 'secp256r1', 'release', '01');
    pki = new TestPki();
    chain = pki.chain(['cli-root', 'cli-int', 'cli-leaf'], [{ type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-256' }]);
    hsm.importKey('cli', PIN, chain.leaf.keyPath, 'leaf', '02');
    pub = join(hsm.dir, 'release.pub');
  });
  afterAll(() => {
    hsm?.dispose();
    pki?.dispose();
  });

  const uri = (object: string) => `pkcs11:token=cli;object=${object}?module-path=${SOFTHSM_MODULE}`;

  it('pkcs11-key: PIN from $MODELSEAL_PKCS11_PIN, verify key passes with the token public key', async () => {
    const model = await makeModel({ 'weights.bin': Buffer.alloc(70_000, 3), 'config.json': '{}' });
    const signed = await runCli(['sign', 'pkcs11-key', model, '--pkcs11-uri', uri('release'), '--json'], { env: { ...hsm.env, MODELSEAL_PKCS11_PIN: PIN } });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout + signed.stderr).not.toContain(PIN);
    // The public key as any holder of the token would export it.
    const { execFileSync } = await import('node:child_process');
    const listing = execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'cli', '-O', '--type', 'pubkey', '--id', '01'], { env: hsm.env, encoding: 'utf8' });
    const block = listing.split(/\n(?=\S)/).find((b) => /ID:\s+01\b/.test(b))!;
    const point = /EC_POINT:\s+(\S+)/.exec(block)![1]!.slice(4);
    const { createPublicKey } = await import('node:crypto');
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: Buffer.from(point.slice(2, 66), 'hex').toString('base64url'), y: Buffer.from(point.slice(66), 'hex').toString('base64url') }, format: 'jwk' });
    writeFileSync(pub, key.export({ type: 'spki', format: 'pem' }));
    const verified = await runCli(['verify', 'key', model, '--public-key', pub]);
    expect(verified.code, verified.stderr).toBe(0);
  });

  it('pkcs11-certificate: chain in the bundle verifies against the root; a wrong PIN is exit 2', async () => {
    const model = await makeModel({ 'weights.bin': Buffer.alloc(10_000, 4) });
    const args = ['sign', 'pkcs11-certificate', model, '--pkcs11-uri', `${uri('leaf')}&pin-value=${PIN}`, '--signing-cert', chain.leaf.certPath, '--cert-chain', chain.intermediate.certPath];
    const signed = await runCli(args, { env: hsm.env });
    expect(signed.code, signed.stderr).toBe(0);
    const verified = await runCli(['verify', 'certificate', model, '--cert-chain', chain.root.certPath]);
    expect(verified.code, verified.stderr).toBe(0);
    const wrong = await runCli(args.map((a) => a.replace(`pin-value=${PIN}`, 'pin-value=999999')), { env: hsm.env });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('CKR_PIN_INCORRECT');
    expect(wrong.stderr).not.toContain('999999');
  });
});
