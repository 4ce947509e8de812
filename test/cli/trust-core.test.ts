import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';
import { TestPki } from '../helpers/pki.js';

/** #11 defects 3, 6, 7 through the CLI, as a user meets them. */
let key: string;
let pub: string;
let other: string;
beforeAll(async () => {
  const dir = await tempDir('core-keys');
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const o = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  key = path.join(dir, 'k.pem');
  pub = path.join(dir, 'k.pub');
  other = path.join(dir, 'o.pub');
  await writeFile(key, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(pub, k.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(other, o.publicKey.export({ type: 'spki', format: 'pem' }));
});

async function pulled(files: Record<string, string> = { 'config.json': '{"n":1}', 'weights.bin': 'w'.repeat(4096) }) {
  const src = await makeModel(files);
  expect((await runCli(['sign', 'key', src, '--private-key', key])).code).toBe(0);
  const into = path.join(await tempDir('core-into'), 'model');
  const r = await runCli(['pull', src, '--into', into, '--public-key', pub, '--receipt-key', key]);
  expect(r.code, r.stderr).toBe(0);
  return { src, into, receipt: `${into}.receipt.json` };
}

/** Make a placed (read-only) tree writable again, as an attacker with the volume would. */
async function unseal(dir: string) {
  await chmod(dir, 0o755);
}

describe('audit trusts the signed bundle, never unsigned receipt fields (defect 3)', () => {
  it('an edited ignore list in the receipt does not hide an added backdoor.py', async () => {
    const p = await pulled();
    const r = JSON.parse(await readFile(p.receipt, 'utf8'));
    r.model.serialization.ignorePaths.push('backdoor.py');
    await chmod(p.receipt, 0o644);
    await writeFile(p.receipt, JSON.stringify(r, null, 2));
    await unseal(p.into);
    await writeFile(path.join(p.into, 'backdoor.py'), 'import os; os.system("id")');
    const a = await runCli(['audit', p.into, '--public-key', pub]);
    expect(a.code, a.stdout).not.toBe(0);
    expect(a.stdout).toMatch(/added: backdoor\.py/);
    expect(a.stderr).toMatch(/ignore paths/);
  });

  it('a top-level .gitignore added after placement fails the audit', async () => {
    const p = await pulled();
    await unseal(p.into);
    await writeFile(path.join(p.into, '.gitignore'), '*');
    const a = await runCli(['audit', p.into, '--public-key', pub]);
    expect(a.code).toBe(5);
    expect(a.stdout).toMatch(/added: \.gitignore/);
  });

  it('an edited signature origin does not hide a model.sig that is not the bundle', async () => {
    const p = await pulled();
    const r = JSON.parse(await readFile(p.receipt, 'utf8'));
    r.signature.origin = 'model.sig';
    await chmod(p.receipt, 0o644);
    await writeFile(p.receipt, JSON.stringify(r, null, 2));
    await unseal(p.into);
    await writeFile(path.join(p.into, 'model.sig'), 'not the bundle');
    const a = await runCli(['audit', p.into, '--public-key', pub]);
    expect(a.code).toBe(5);
    expect(a.stdout).toMatch(/added: model\.sig/);
  });

  it('a signed receipt verifies with --receipt-public-key; an edited one, or another key, fails', async () => {
    const p = await pulled();
    const ok = await runCli(['audit', p.into, '--public-key', pub, '--receipt-public-key', pub]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/receipt: +signed by key key:/);
    expect((await runCli(['audit', p.into, '--public-key', pub, '--receipt-public-key', other])).code).toBe(3);
    const r = JSON.parse(await readFile(p.receipt, 'utf8'));
    r.placedAt = '/somewhere/else';
    await chmod(p.receipt, 0o644);
    await writeFile(p.receipt, JSON.stringify(r, null, 2));
    const bad = await runCli(['audit', p.into, '--public-key', pub, '--receipt-public-key', pub]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/receipt differs from the one that was signed/);
  });
});

describe('one owner of the model scope (defect 6)', () => {
  it('sign --signature elsewhere does not sign an old model.sig as a model file', async () => {
    const dir = await makeModel({ 'config.json': '{}', 'model.sig': 'an old signature' });
    const team = path.join(await tempDir('team'), 'team.sig');
    expect((await runCli(['sign', 'key', dir, '--private-key', key, '--signature', team])).code).toBe(0);
    const d = await runCli(['digest', dir, '--json']);
    const names = (JSON.parse(d.stdout) as { resources: Array<{ name: string }> }).resources.map((r) => r.name);
    expect(names).toEqual(['config.json']);
    const v = await runCli(['verify', 'key', dir, '--public-key', pub, '--signature', team, '--json']);
    expect(v.code, v.stderr).toBe(0);
  });

  it('a model.sig/ directory is model content, not a signature to skip', async () => {
    const dir = await makeModel({ 'config.json': '{}' });
    expect((await runCli(['sign', 'key', dir, '--private-key', key, '--signature', path.join(await tempDir('s'), 'x.sig')])).code).toBe(0);
    const sig = path.join(await tempDir('s2'), 'team.sig');
    expect((await runCli(['sign', 'key', dir, '--private-key', key, '--signature', sig])).code).toBe(0);
    await mkdir(path.join(dir, 'model.sig'));
    await writeFile(path.join(dir, 'model.sig', 'payload.py'), 'print(1)');
    const v = await runCli(['verify', 'key', dir, '--public-key', pub, '--signature', sig]);
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/model\.sig\/payload\.py/);
  });
});

describe('certificate method (defect 7)', () => {
  it('a leaf whose EKU is only serverAuth cannot sign models; a self-signed pinned leaf can', async () => {
    const pki = new TestPki();
    const root = pki.root('Root CA');
    const tls = pki.issue(root, 'tls-server', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth');
    const model = await makeModel({ 'config.json': '{}' });
    const s = await runCli(['sign', 'certificate', model, '--private-key', tls.keyPath, '--signing-cert', tls.certPath]);
    expect(s.code, s.stderr).toBe(0);
    const v = await runCli(['verify', 'certificate', model, '--cert-chain', root.certPath]);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/extended key usage without codeSigning/);

    // A self-signed leaf (not a CA), configured as the trust anchor and used as the signing certificate.
    const self = pki.root('pinned-signer', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash');
    const m2 = await makeModel({ 'config.json': '{}' });
    expect((await runCli(['sign', 'certificate', m2, '--private-key', self.keyPath, '--signing-cert', self.certPath])).code).toBe(0);
    const ok = await runCli(['verify', 'certificate', m2, '--cert-chain', self.certPath]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
