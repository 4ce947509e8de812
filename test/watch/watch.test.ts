import { generateKeyPairSync } from 'node:crypto';
import { chmod, open, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeDirectory } from '../../src/model/serialize.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { cleanEnv, freePort, startProcess, tempDir, type ServerProcess } from '../harness/process.js';
import { REPO, runCli } from '../helpers/cli.js';
import { bytes, makeModel } from '../helpers/model.js';

/**
 * `modelseal watch` as a process on a model placed by `modelseal pull`: ready while the bytes
 * verify, /readyz failing (or the process exiting) after a change, one decision line.
 *
 * The documented bound: a changed file fails readiness within --debounce plus the time to
 * re-hash that file and any full pass already running at --rate, i.e. debounce + 2 × model
 * size / rate. The waits below are that bound plus scheduling slack; nothing measures latency.
 */
const RATE = 512 * 1024;
const DEBOUNCE_S = 0.2;
const MODEL_BYTES = 600_000 + 64;
const BOUND_MS = DEBOUNCE_S * 1000 + (2 * MODEL_BYTES * 1000) / RATE + 3000;

let pub: string;
let wrongPub: string;
const procs: ServerProcess[] = [];

async function placedModel(): Promise<{ dir: string; receipt: string }> {
  const src = await makeModel({ 'config.json': '{"model_type":"tiny"}' + ' '.repeat(43), 'weights.dat': bytes(600_000, 3) }, 'tiny');
  const manifest = await serializeDirectory(src, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['model.sig'] });
  await writeFile(path.join(src, 'model.sig'), await signManifest(manifest, { kind: 'key', privateKey: key.privateKey }));
  const into = path.join(await tempDir('watch-placed'), 'model');
  const r = await runCli(['pull', src, '--into', into, '--public-key', pub]);
  if (r.code !== 0) throw new Error(`pull failed: ${r.stderr}`);
  return { dir: into, receipt: `${into}.receipt.json` };
}

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

beforeAll(async () => {
  const keys = await tempDir('watch-keys');
  pub = path.join(keys, 'release.pub');
  wrongPub = path.join(keys, 'other.pub');
  await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(wrongPub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
});
afterAll(async () => {
  for (const p of procs) await p.stop();
});

interface Watching {
  proc: ServerProcess;
  port: number;
  stderr: () => string;
}

async function startWatch(model: { dir: string; receipt: string }, extra: string[], trust = pub): Promise<Watching> {
  const port = await freePort();
  let stderr = '';
  const proc = startProcess(process.execPath, [path.join(REPO, 'bin/modelseal'), 'watch', '--path', model.dir, '--receipt', model.receipt, '--public-key', trust, '--debounce', String(DEBOUNCE_S), '--rate', String(RATE), '--listen', `127.0.0.1:${port}`, ...extra], {
    env: cleanEnv({ POD_NAME: 'llm-7f9c', POD_NAMESPACE: 'serving', MODELSEAL_LOG_LEVEL: 'info' }),
  });
  proc.child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  procs.push(proc);
  return { proc, port, stderr: () => stderr };
}

function probe(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', () => resolve({ status: 0, body: '' }));
  });
}

async function until<T>(what: string, deadlineMs: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const decisions = (w: Watching) =>
  w.stderr().split('\n').filter((l) => l.includes('"weight_integrity_check"')).map((l) => JSON.parse(l) as Record<string, unknown>);

async function tamper(file: string): Promise<void> {
  // Host access: root ignores 0444; the test owns the file, so it lifts the mode first.
  await chmod(file, 0o644);
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from([0x42]), 0, 1, 4242);
  await fh.close();
}

describe('modelseal watch', () => {
  let model: { dir: string; receipt: string };
  let w: Watching;

  it('an untouched model stays ready across intervals; each full pass re-reads exactly the model, through the cap', async () => {
    model = await placedModel();
    w = await startWatch(model, ['--interval', '1']);
    await until('ready', 30_000, async () => ((await probe(w.port, '/readyz')).status === 200 ? true : undefined));
    const status = await until('three full passes', 60_000, async () => {
      expect((await probe(w.port, '/readyz')).status).toBe(200);
      const s = JSON.parse((await probe(w.port, '/status')).body) as { passes: Array<{ kind: string; bytes: number; files: number }> };
      return s.passes.filter((p) => p.kind === 'full').length >= 3 ? s : undefined;
    });
    for (const p of status.passes) expect(p).toEqual({ kind: 'full', files: 2, bytes: MODEL_BYTES });
    expect(decisions(w)).toEqual([]);
  });

  it('a weight changed under it flips /readyz to failing within the documented bound, with one decision line', async () => {
    const weights = path.join(model.dir, 'weights.dat');
    const before = await readFile(weights);
    await tamper(weights);
    const failing = await until('readyz failing', BOUND_MS, async () => {
      const r = await probe(w.port, '/readyz');
      return r.status === 503 ? r : undefined;
    });
    expect(failing.body).toMatch(/^failed: weights\.dat changed since placement: [0-9a-f]{64} signed, [0-9a-f]{64} now/);
    expect((await probe(w.port, '/healthz')).status).toBe(200);
    const lines = decisions(w);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event_type: 'weight_integrity_check',
      outcome: 'blocked',
      mode: 'watch',
      pod_name: 'llm-7f9c',
      namespace: 'serving',
      file: 'weights.dat',
      expected_digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      actual_digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      code: 'DIGEST_MISMATCH',
      exit_code: 4,
      timestamp_utc: expect.stringMatching(/Z$/),
    });
    expect(lines[0]!.expected_digest).not.toBe(lines[0]!.actual_digest);
    expect(before.length).toBe(600_000);
    // Stays failed: a later interval does not make it ready again.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await probe(w.port, '/readyz')).status).toBe(503);
  });

  it('--on-failure exit: a file added beside the model ends the process with exit code 5', async () => {
    const m = await placedModel();
    const x = await startWatch(m, ['--interval', '3600', '--on-failure', 'exit']);
    await until('ready', 30_000, async () => ((await probe(x.port, '/readyz')).status === 200 ? true : undefined));
    await chmod(m.dir, 0o755);
    await writeFile(path.join(m.dir, 'backdoor.py'), 'import os\n');
    const code = await until('exit', BOUND_MS, async () => x.proc.child.exitCode ?? undefined);
    expect(code).toBe(5);
    expect(decisions(x)).toEqual([expect.objectContaining({ outcome: 'blocked', code: 'FILE_UNSIGNED', file: 'backdoor.py', exit_code: 5 })]);
  });

  it('a receipt whose signer is not trusted never becomes ready (exit 3)', async () => {
    const m = await placedModel();
    const x = await startWatch(m, ['--on-failure', 'exit'], wrongPub);
    const code = await until('exit', 30_000, async () => x.proc.child.exitCode ?? undefined);
    expect(code).toBe(3);
    expect(decisions(x)[0]).toMatchObject({ outcome: 'blocked', exit_code: 3 });
  });

  it('an edited receipt (bundle no longer matching its hash) is refused', async () => {
    const m = await placedModel();
    const r = JSON.parse(await readFile(m.receipt, 'utf8'));
    r.signature.bundle = r.signature.bundle.replace('"', ' "');
    await chmod(m.receipt, 0o644);
    await writeFile(m.receipt, JSON.stringify(r));
    const x = await startWatch(m, ['--on-failure', 'exit']);
    const code = await until('exit', 30_000, async () => x.proc.child.exitCode ?? undefined);
    expect(code).toBe(3);
    expect(decisions(x)[0]).toMatchObject({ code: 'BUNDLE_INVALID' });
  });

  it('bad flags are usage errors', async () => {
    const m = await placedModel();
    const r = await runCli(['watch', '--path', m.dir, '--public-key', pub, '--rate', '1KiB']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--rate must be at least 64KiB');
  });
});
