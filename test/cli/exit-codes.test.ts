import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';

/**
 * #11 defect 8: user mistakes never come out as INTERNAL (exit 1). Every command is swept with
 * missing paths, unknown flags and malformed inputs; each must answer with one
 * `modelseal: CODE: reason` line and a documented exit code, and `--json` with a result document.
 */
let dir: string;
let model: string;
let pub: string;
let key: string;
let notJson: string;
let aliasPolicy: string;
let file: string;
beforeAll(async () => {
  dir = await tempDir('sweep');
  model = await makeModel({ 'config.json': '{}' });
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  pub = path.join(dir, 'k.pub');
  key = path.join(dir, 'k.pem');
  await writeFile(pub, k.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(key, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  notJson = path.join(dir, 'garbage.json');
  await writeFile(notJson, '{ not json');
  aliasPolicy = path.join(dir, 'alias.yaml');
  await writeFile(aliasPolicy, 'apiVersion: modelseal/v1\nauthorities:\n  a: &k\n    key: { publicKey: k.pub }\n  b: *k\nmodels:\n  - match: "**"\n    authorities: [a]\n');
  file = path.join(dir, 'plain-file');
  await writeFile(file, 'x');
});

const NO = '/nonexistent/modelseal-sweep';
const cases: Array<[string, () => string[]]> = [
  ['digest of a missing path', () => ['digest', NO]],
  ['sbom of a missing path', () => ['sbom', NO]],
  ['generate-key-pair into a missing directory', () => ['generate-key-pair', '--output-key-prefix', `${NO}/k`]],
  ['sign with a missing key', () => ['sign', 'key', model, '--private-key', NO]],
  ['sign a missing model', () => ['sign', 'key', NO, '--private-key', key]],
  ['sign with an unknown method', () => ['sign', 'bogus', model]],
  ['sign with no method', () => ['sign', model]],
  ['verify with a missing public key', () => ['verify', 'key', model, '--public-key', NO]],
  ['verify with a malformed signature', () => ['verify', 'key', model, '--public-key', pub, '--signature', notJson]],
  ['verify with a flag of another method', () => ['verify', 'key', model, '--public-key', pub, '--cert-chain', pub]],
  ['verify policy with a YAML alias', () => ['verify', 'policy', model, '--policy', aliasPolicy]],
  ['verify policy with a missing policy', () => ['verify', 'policy', model, '--policy', NO]],
  ['pull --into under a regular file', () => ['pull', model, '--into', path.join(file, 'sub'), '--public-key', pub]],
  ['pull a percent-escaped reference', () => ['pull', 'oci://registry.example.com/models%2Fx:1', '--into', path.join(dir, 'x'), '--public-key', pub]],
  ['pull an invalid reference', () => ['pull', 'oci://UPPER/Case:1', '--into', path.join(dir, 'y'), '--public-key', pub]],
  ['pull with no trust', () => ['pull', model, '--into', path.join(dir, 'z')]],
  ['audit with a malformed receipt', () => ['audit', model, '--receipt', notJson, '--public-key', pub]],
  ['audit with a missing receipt', () => ['audit', model, '--public-key', pub]],
  ['audit --receipts of a missing directory', () => ['audit', '--receipts', NO]],
  ['verify-blob of a missing bundle', () => ['verify-blob', file, '--bundle', NO, '--key', pub]],
  ['sign-blob a missing file', () => ['sign-blob', NO, '--bundle', path.join(dir, 'b.json'), '--key', key]],
  ['sbom verify of a malformed SBOM', () => ['sbom', 'verify', notJson, model]],
  ['inspect a non-OCI reference', () => ['inspect', 's3://bucket/x']],
  ['attach a missing signature', () => ['attach', 'oci://127.0.0.1:1/m:1', '--signature', NO]],
  ['an unknown flag', () => ['verify', 'key', model, '--bogus']],
  ['an unknown command', () => ['frobnicate']],
  ['scan a missing path', () => ['scan', NO]],
];

describe('no user mistake is an internal error', () => {
  it.each(cases)('%s', async (_name, args) => {
    const r = await runCli([...args(), '--json'], { env: { MODELSEAL_LOG_LEVEL: 'silent' } });
    expect(r.code, `${r.stderr}\n${r.stdout}`).not.toBe(1);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^modelseal: [A-Z_]+: \S/m);
    const result = JSON.parse(r.stdout) as { ok: boolean; code: string; exitCode: number };
    expect(result).toMatchObject({ ok: false, exitCode: r.code });
    expect(result.code).not.toBe('INTERNAL');
  });
});
