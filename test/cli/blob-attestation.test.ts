import { createHash, generateKeyPairSync } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStatement } from '../../src/signatures/blob/sign.js';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';

/** `verify-blob-attestation` and `verify-blob sha256:…` through the built CLI, exit codes included. */
describe('verify-blob-attestation (CLI)', () => {
  let dir: string;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const weights = Buffer.from('weights that were attested');
  const sha256 = createHash('sha256').update(weights).digest('hex');

  beforeAll(async () => {
    dir = await tempDir('blob-att');
    await writeFile(path.join(dir, 'model.bin'), weights);
    await writeFile(path.join(dir, 'other.bin'), 'not these');
    await writeFile(path.join(dir, 'key.pub'), key.publicKey.export({ type: 'spki', format: 'pem' }));
    const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'model.bin', digest: { sha256 } }], predicateType: 'https://cyclonedx.org/bom', predicate: {} };
    await writeFile(path.join(dir, 'att.json'), await signStatement(Buffer.from(JSON.stringify(statement)), { kind: 'key', privateKey: key.privateKey }));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = (...args: string[]) => runCli(['verify-blob-attestation', ...args, '--bundle', path.join(dir, 'att.json'), '--key', path.join(dir, 'key.pub'), '--json']);

  it('passes for the file and for its digest, with and without --type', async () => {
    const byFile = await run(path.join(dir, 'model.bin'), '--type', 'cyclonedx');
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(JSON.parse(byFile.stdout)).toMatchObject({ ok: true, predicateType: 'https://cyclonedx.org/bom', subject: { name: 'model.bin', sha256 } });
    expect((await run(`sha256:${sha256}`)).code).toBe(0);
  });

  it('exit 6 for another predicate type, 3 for an artefact it does not name, 2 for a malformed digest', async () => {
    expect((await run(path.join(dir, 'model.bin'), '--type', 'https://slsa.dev/provenance/v1')).code).toBe(6);
    const other = await run(path.join(dir, 'other.bin'));
    expect(other.code).toBe(3);
    expect(other.stderr).toContain('subject');
    expect((await run('sha256:1234')).code).toBe(2);
  });

  it('verify-blob refuses an attestation bundle and points to verify-blob-attestation', async () => {
    const r = await runCli(['verify-blob', `sha256:${sha256}`, '--bundle', path.join(dir, 'att.json'), '--key', path.join(dir, 'key.pub')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('verify-blob-attestation');
  });
});
