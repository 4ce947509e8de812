import { appendFile, chmod, cp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN, runCli } from '../helpers/cli.js';
import { tempDir } from '../harness/process.js';

/** How each case in test/fixtures/oms-golden/CASES.md must verify. */
const CERT = ['certificate', '--cert-chain', path.join(GOLDEN, 'keys/certificate/ca-cert.pem')];
const KEY = ['key', '--public-key', path.join(GOLDEN, 'keys/certificate/signing-key-pub.pem')];
const KEYLESS = [
  'sigstore',
  '--identity', 'stefanb@us.ibm.com',
  '--identity-provider', 'https://sigstore.verify.ibm.com/oauth2',
  '--trust-root', path.join(GOLDEN, 'sigstore-trust-config.json'),
];
const CASES: Array<[string, string[], string[]]> = [
  ['v0.2.0-certificate', CERT, []],
  ['v0.3.1-certificate', CERT, []],
  ['v0.3.1-elliptic-key', KEY, []],
  ['v0.3.1-sigstore', KEYLESS, []],
  ['v1.0.0-certificate', CERT, []],
  ['v1.0.0-elliptic-key', KEY, []],
  ['v1.0.0-sigstore', KEYLESS, []],
  ['v1.0.1-certificate', CERT, ['--ignore-paths', 'ignore-me']],
  ['v1.0.1-elliptic-key', KEY, ['--ignore-paths', 'ignore-me']],
  ['v1.0.1-sigstore', KEYLESS, ['--ignore-paths', 'ignore-me']],
  ['v1.1.0-certificate', CERT, []],
  ['v1.1.0-elliptic-key', KEY, []],
  ['v1.1.0-sigstore', KEYLESS, []],
];

/** A writable copy of a golden case (the shared fixtures are read-only). */
async function copyCase(name: string): Promise<string> {
  const dir = path.join(await tempDir('golden'), name);
  await cp(path.join(GOLDEN, name), dir, { recursive: true });
  await chmod(dir, 0o755);
  for (const f of await readdir(dir)) await chmod(path.join(dir, f), 0o644);
  return dir;
}

describe.each(CASES)('golden %s', (name, method, extra) => {
  const verify = (dir: string) => runCli(['verify', ...method.slice(0, 1), dir, ...method.slice(1), ...extra, '--json']);

  it('verifies offline', async () => {
    const r = await verify(path.join(GOLDEN, name));
    expect(r.stderr + r.stdout).not.toMatch(/INTERNAL/);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    const decision = r.logs.find((l) => l.event_type === 'model_verification');
    expect(decision).toMatchObject({ outcome: 'allowed' });
  });

  it('fails after a signed file is changed (exit 4)', async () => {
    const dir = await copyCase(name);
    await appendFile(path.join(dir, 'signme-1'), 'x');
    const r = await verify(dir);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/DIGEST_MISMATCH/);
  });

  it('fails after a signed file is removed (exit 5)', async () => {
    const dir = await copyCase(name);
    await rm(path.join(dir, 'signme-1'));
    const r = await verify(dir);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/FILE_MISSING/);
  });

  it('fails after an unsigned file is added (exit 5)', async () => {
    const dir = await copyCase(name);
    await writeFile(path.join(dir, 'unsigned.bin'), 'surprise');
    const r = await verify(dir);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/FILE_UNSIGNED/);
  });
});
