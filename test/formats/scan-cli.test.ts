import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { PickleWriter, writeSafetensors } from './writers.js';

const EVIL = new PickleWriter().proto(2).global('posix', 'system').unicode('true').tuple1().reduce().stop().bytes();

let dir: string;
let clean: string;
let unsafe: string;
let unclear: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelseal-scan-cli-'));
  const model = async (name: string, files: Record<string, Buffer | string>): Promise<string> => {
    const root = path.join(dir, name);
    for (const [f, b] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await writeFile(path.join(root, f), b);
    }
    return root;
  };
  const st = writeSafetensors({ w: { dtype: 'F32', shape: [2], bytesPerElement: 4 } });
  clean = await model('clean', { 'model.safetensors': st, 'config.json': '{"model_type":"x"}', '.git/HEAD': 'ref: main\n' });
  unsafe = await model('unsafe', { 'model.safetensors': st, 'sub/pytorch_model.bin': Buffer.concat([EVIL.subarray(2, -1), Buffer.from([0xff])]) });
  unclear = await model('unclear', { 'model.safetensors': st, 'optimizer.pt': Buffer.from('not a checkpoint') });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('modelseal scan', () => {
  it('a clean directory: human summary, exit 0', async () => {
    const r = await runCli(['scan', clean]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('clean: 2 files scanned, 0 unsafe, 0 inconclusive, 0 info\n');
  });

  it('an unsafe directory: names the file and the global, exit 8; a single file works the same', async () => {
    const r = await runCli(['scan', unsafe]);
    expect(r.code).toBe(8);
    expect(r.stdout).toMatch(/^UNSAFE +sub\/pytorch_model\.bin: pickle global posix\.system runs shell commands/m);
    expect(r.stdout).toMatch(/^INCONCLUSIVE +sub\/pytorch_model\.bin: pickle stream is malformed/m);
    expect(r.stdout).toMatch(/^unsafe: 2 files scanned, 1 unsafe, 1 inconclusive, 0 info$/m);
    expect(r.stderr).toMatch(/modelseal: UNSAFE_CONTENT: unsafe content in /);
    const one = await runCli(['scan', path.join(unsafe, 'sub/pytorch_model.bin')]);
    expect(one.code).toBe(8);
    expect(one.stdout).toMatch(/^UNSAFE +pytorch_model\.bin: /m);
  });

  it('inconclusive exits 0, or 8 with --strict', async () => {
    const r = await runCli(['scan', unclear]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^INCONCLUSIVE +optimizer\.pt: named like a pickle or PyTorch checkpoint/m);
    expect((await runCli(['scan', unclear, '--strict'])).code).toBe(8);
  });

  it('--json: one document with verdict, files and findings', async () => {
    const r = await runCli(['scan', unsafe, '--json']);
    expect(r.code).toBe(8);
    const j = JSON.parse(r.stdout) as { ok: boolean; verdict: string; files: Array<{ path: string; format: string }>; findings: Array<Record<string, unknown>> };
    expect(j.ok).toBe(false);
    expect(j.verdict).toBe('unsafe');
    expect(j.files).toEqual([expect.objectContaining({ path: 'model.safetensors', format: 'safetensors' }), expect.objectContaining({ path: 'sub/pytorch_model.bin', format: 'pickle' })]);
    expect(j.findings[0]).toMatchObject({ path: 'sub/pytorch_model.bin', severity: 'unsafe', kind: 'pickle-global', global: 'posix.system' });
    const ok = JSON.parse((await runCli(['scan', unclear, '--json'])).stdout) as { ok: boolean; verdict: string };
    expect(ok).toMatchObject({ ok: true, verdict: 'inconclusive' });
  });

  it('--sarif: SARIF 2.1.0 with one rule per kind and cwd-relative locations', async () => {
    const r = await runCli(['scan', 'sub', '--sarif'], { cwd: unsafe });
    expect(r.code).toBe(8);
    const s = JSON.parse(r.stdout) as { version: string; runs: Array<{ tool: { driver: { name: string; rules: Array<{ id: string }> } }; results: Array<{ ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }> }> };
    expect(s.version).toBe('2.1.0');
    const run = s.runs[0]!;
    expect(run.tool.driver.name).toBe('modelseal');
    expect(run.tool.driver.rules.map((x) => x.id)).toEqual(['pickle-global', 'pickle-malformed']);
    expect(run.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation.artifactLocation.uri])).toEqual([
      ['pickle-global', 'error', 'sub/pytorch_model.bin'],
      ['pickle-malformed', 'warning', 'sub/pytorch_model.bin'],
    ]);
    expect(run.results.every((x) => run.tool.driver.rules[x.ruleIndex]!.id === x.ruleId)).toBe(true);
    const c = JSON.parse((await runCli(['scan', clean, '--sarif'])).stdout) as { runs: Array<{ results: unknown[] }> };
    expect(c.runs[0]!.results).toEqual([]);
  });

  it('a missing path is a usage-class error, not a crash', async () => {
    const r = await runCli(['scan', path.join(dir, 'nope')]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(1);
    expect(r.stderr).toMatch(/NOT_FOUND/);
  });
});
