import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { sbomCommand } from '../../src/cli/sbom.js';
import { llamaSafetensorsModel } from './fixtures.js';

process.env.MODELSEAL_LOG_LEVEL = 'silent';

async function run(...args: string[]): Promise<{ code: number; out: string }> {
  const program = new Command('modelseal').exitOverride();
  program.addCommand(sbomCommand());
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'modelseal', ...args]);
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out };
}

afterEach(() => {
  process.exitCode = 0;
});

describe('modelseal sbom CLI', () => {
  it('generates, signs and verifies; fails with the documented exit codes', async () => {
    const model = await llamaSafetensorsModel();
    const work = await mkdtemp(path.join(tmpdir(), 'modelseal-sbom-cli-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    await writeFile(path.join(work, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(work, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(work, 'other.pem'), other.export({ type: 'spki', format: 'pem' }));
    const sbom = path.join(work, 'model.cdx.json');

    const gen = await run('sbom', model, '--output', sbom, '--json');
    expect(gen.code).toBe(0);
    expect(JSON.parse(gen.out)).toMatchObject({ ok: true, format: 'cyclonedx', files: 5, parameterCount: 2576 });
    expect(JSON.parse(await readFile(sbom, 'utf8'))).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6' });

    const stdout = await run('sbom', model, '--format', 'spdx3');
    expect(JSON.parse(stdout.out)['@context']).toBe('https://spdx.org/rdf/3.0.1/spdx-context.jsonld');

    expect((await run('sbom', 'sign', 'key', sbom, '--private-key', path.join(work, 'key.pem'))).code).toBe(0);
    const ok = await run('sbom', 'verify', sbom, model, '--public-key', path.join(work, 'pub.pem'), '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true, checked: 5, signer: { method: 'key' } });

    // A bundle exists but nobody was named as trusted: a usage error, never a silent pass.
    expect((await run('sbom', 'verify', sbom, model)).code).toBe(2);
    expect((await run('sbom', 'verify', sbom, model, '--public-key', path.join(work, 'other.pem'))).code).toBe(3);

    // The SBOM written inside the model directory is left out of the files it describes.
    const inside = path.join(model, 'sbom.json');
    expect((await run('sbom', model, '--output', inside)).code).toBe(0);
    expect((await run('sbom', 'verify', inside, model)).code).toBe(0);

    await writeFile(path.join(model, 'notes.txt'), 'extra');
    expect((await run('sbom', 'verify', sbom, model, '--public-key', path.join(work, 'pub.pem'))).code).toBe(5);
    await writeFile(path.join(model, 'config.json'), '{}');
    expect((await run('sbom', 'verify', sbom, model, '--public-key', path.join(work, 'pub.pem'))).code).toBe(4);
  });
});
