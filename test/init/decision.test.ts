import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, ModelsealError, type ExitCodeValue } from '../../src/errors.js';
import { pino } from 'pino';
import { logDecision, type DecisionEvent } from '../../src/log.js';
import { resolveInitConfig } from '../../src/init/config.js';
import { failedEvent, outcomeFor } from '../../src/init/decision.js';
import { runInit, type InitDeps } from '../../src/init/run.js';
import { openInitSource, resolveInitTrust } from '../../src/init/wiring.js';
import { serializeDirectory } from '../../src/model/serialize.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { freePort, tempDir } from '../harness/process.js';
import { bytes, makeModel } from '../helpers/model.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function pemFile(dir: string, name: string, key: typeof release.publicKey): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, key.export({ type: 'spki', format: 'pem' }));
  return p;
}

async function signedModel(): Promise<string> {
  const dir = await makeModel({ 'config.json': '{"layers":2}', 'weights.bin': bytes(200_000) }, 'tiny');
  const m = await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['model.sig'] });
  await writeFile(path.join(dir, 'model.sig'), await signManifest(m, { kind: 'key', privateKey: release.privateKey }));
  return dir;
}

/** Real trust resolution and sources; the lines are captured instead of written to stderr. */
function capture(): { deps: InitDeps; lines: DecisionEvent[] } {
  const lines: DecisionEvent[] = [];
  return { lines, deps: { trust: resolveInitTrust, open: openInitSource, log: (e) => lines.push(e) } };
}

const POD = { POD_NAME: 'llm-0', POD_NAMESPACE: 'serving' };
const FIELDS = ['pod_name', 'namespace', 'event_type', 'outcome', 'model', 'resolved_digest', 'root_digest', 'signer', 'reason', 'code'];

describe('init decision line', () => {
  it('maps exit codes to outcomes: blocked = checked and refused, failed = could not check', () => {
    const cases: Array<[ExitCodeValue, string]> = [
      [0, 'allowed'],
      [3, 'blocked'],
      [4, 'blocked'],
      [5, 'blocked'],
      [6, 'blocked'],
      [8, 'blocked'],
      [7, 'failed'],
      [2, 'failed'],
      [1, 'failed'],
    ];
    for (const [code, outcome] of cases) expect(outcomeFor(code)).toBe(outcome);
  });

  it('allowed: every field, the placed tree read-only, the receipt beside it', async () => {
    const model = await signedModel();
    const keys = await tempDir('keys');
    const volume = await tempDir('volume');
    const cfg = resolveInitConfig([{ source: model, into: path.join(volume, 'tiny'), publicKey: await pemFile(keys, 'release.pub', release.publicKey) }], POD);
    const { deps, lines } = capture();
    const out = await runInit(cfg, deps);
    expect(out.exitCode).toBe(ExitCode.OK);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const f of FIELDS) expect(line).toHaveProperty(f);
    expect(line).toMatchObject({
      event_type: 'weight_integrity_check',
      outcome: 'allowed',
      pod_name: 'llm-0',
      namespace: 'serving',
      model,
      code: 'OK',
      exit_code: 0,
      receipt: path.join(volume, 'tiny.receipt.json'),
    });
    expect(line.root_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(String(line.signer)).toMatch(/^key:[0-9a-f]{64}$/);
    expect((await readdir(volume)).sort()).toEqual(['tiny', 'tiny.receipt.json']);
  });

  it('blocked: a changed weight names the file, the signer and the root digest', async () => {
    const model = await signedModel();
    await writeFile(path.join(model, 'weights.bin'), bytes(200_000, 7));
    const keys = await tempDir('keys');
    const volume = await tempDir('volume');
    const cfg = resolveInitConfig([{ source: model, into: path.join(volume, 'tiny'), publicKey: await pemFile(keys, 'k.pub', release.publicKey) }], POD);
    const { deps, lines } = capture();
    const out = await runInit(cfg, deps);
    expect(out.exitCode).toBe(ExitCode.DIGEST_MISMATCH);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ outcome: 'blocked', code: 'DIGEST_MISMATCH', exit_code: 4, pod_name: 'llm-0', namespace: 'serving' });
    expect(String(lines[0]!.reason)).toContain('weights.bin');
    expect(String(lines[0]!.signer)).toMatch(/^key:/);
    expect(lines[0]!.root_digest).toMatch(/^[0-9a-f]{64}$/);
    // Nothing unverified is left in the volume.
    expect(await readdir(volume)).toEqual([]);
  });

  it('blocked: a signature by a key nobody trusts (exit 3), signer unknown', async () => {
    const model = await signedModel();
    const keys = await tempDir('keys');
    const volume = await tempDir('volume');
    const cfg = resolveInitConfig([{ source: model, into: path.join(volume, 'tiny'), publicKey: await pemFile(keys, 'k.pub', stranger.publicKey) }], {});
    const { deps, lines } = capture();
    const out = await runInit(cfg, deps);
    expect(out.exitCode).toBe(ExitCode.SIGNATURE);
    expect(lines[0]).toMatchObject({ outcome: 'blocked', exit_code: 3, pod_name: null, namespace: null, signer: null });
  });

  it('failed: a source that does not exist (exit 7) and an unreadable key (exit 2)', async () => {
    const keys = await tempDir('keys');
    const volume = await tempDir('volume');
    const pub = await pemFile(keys, 'k.pub', release.publicKey);
    const missing = resolveInitConfig([{ source: path.join(volume, 'nope'), into: path.join(volume, 'm'), publicKey: pub }], POD);
    const a = capture();
    expect((await runInit(missing, a.deps)).exitCode).toBe(ExitCode.SOURCE);
    expect(a.lines[0]).toMatchObject({ outcome: 'failed', exit_code: 7, resolved_digest: null });

    const badKey = resolveInitConfig([{ source: await signedModel(), into: path.join(volume, 'm'), publicKey: path.join(keys, 'absent.pub') }], POD);
    const b = capture();
    expect((await runInit(badKey, b.deps)).exitCode).toBe(ExitCode.USAGE);
    expect(b.lines[0]).toMatchObject({ outcome: 'failed', exit_code: 2, code: 'KEY_INVALID' });
  });

  it('verify-in-place: a mounted model is checked without copying; an unsigned extra file blocks', async () => {
    const model = await signedModel();
    const keys = await tempDir('keys');
    const receiptDir = await tempDir('receipts');
    const pub = await pemFile(keys, 'k.pub', release.publicKey);
    const cfg = resolveInitConfig(
      [{ source: model, mode: 'verify-in-place', publicKey: pub, receipt: path.join(receiptDir, 'tiny.receipt.json') }],
      POD,
    );
    const ok = capture();
    expect((await runInit(cfg, ok.deps)).exitCode).toBe(0);
    expect(ok.lines[0]).toMatchObject({ outcome: 'allowed', mode: 'verify-in-place' });
    const receipt = JSON.parse(await readFile(path.join(receiptDir, 'tiny.receipt.json'), 'utf8'));
    expect(receipt.placedAt).toBe(model);

    await writeFile(path.join(model, 'extra.py'), 'import os');
    const again = resolveInitConfig([{ source: model, mode: 'verify-in-place', publicKey: pub, receipt: path.join(receiptDir, 'again.json') }], POD);
    const bad = capture();
    expect((await runInit(again, bad.deps)).exitCode).toBe(ExitCode.FILE_SET);
    expect(bad.lines[0]).toMatchObject({ outcome: 'blocked', code: 'FILE_UNSIGNED' });
  });

  it('never logs registry credentials, even when the registry cannot be reached', async () => {
    const keys = await tempDir('keys');
    const auth = path.join(keys, 'config.json');
    const port = await freePort();
    const secret = 'hunter2-do-not-log';
    await writeFile(auth, JSON.stringify({ auths: { [`127.0.0.1:${port}`]: { auth: Buffer.from(`alice:${secret}`).toString('base64') } } }));
    const cfg = resolveInitConfig(
      [{ source: `oci://127.0.0.1:${port}/m/tiny:v1`, plainHttp: true, registryAuthFile: auth, publicKey: await pemFile(keys, 'k.pub', release.publicKey) }],
      POD,
    );
    const { deps, lines } = capture();
    expect((await runInit(cfg, deps)).exitCode).toBe(ExitCode.SOURCE);
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(`alice:${secret}`).toString('base64'));
  });

  it('writes the line through pino as one JSON object with timestamp_utc', () => {
    const chunks: string[] = [];
    const log = pino({ base: { app: 'modelseal' } }, { write: (s: string) => chunks.push(s) });
    const err = new ModelsealError('NETWORK', 'connect ECONNREFUSED 127.0.0.1:1');
    logDecision(failedEvent({ pod: { name: 'p', namespace: 'n' }, reference: 'oci://r/m:1', mode: 'pull' }, err), log);
    expect(chunks).toHaveLength(1);
    const line = JSON.parse(chunks[0]!);
    expect(line).toMatchObject({ event_type: 'weight_integrity_check', outcome: 'failed', pod_name: 'p', namespace: 'n', code: 'NETWORK', exit_code: 7 });
    expect(line.timestamp_utc).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
