import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile, chmod, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { sha256 } from '../helpers/model.js';
import { initEnv, startCli } from './cli-process.js';
import { leftovers, startPodsWorld, unverifiedBytes, visibleFiles, type PodsWorld } from './world.js';

/**
 * A pod's life through the real CLI (`pull` and `init`) against a loopback registry: restarts
 * with the volume kept, a new model in the spec, tampering on the volume, mount point targets,
 * read-only and full filesystems, SIGTERM, deadlines and stalls, progress and log format.
 */
let world: PodsWorld;
const mounts: string[] = [];

beforeAll(async () => {
  world = await startPodsWorld();
}, 120_000);

afterAll(async () => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  await world?.stop();
});

async function tmpfs(opts: string): Promise<string> {
  const dir = await tempDir('mnt');
  execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

const init = (settings: Record<string, string>) =>
  startCli(['init'], initEnv({ MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true', ...settings }), false).done;

const pull = (ref: string, into: string, ...flags: string[]) => startCli(['pull', ref, '--into', into, '--public-key', world.publicKey, '--plain-http', ...flags]).done;

const decision = (logs: Array<Record<string, unknown>>) => logs.filter((l) => String(l.msg ?? '').startsWith('decision:'));

async function expectModel(dir: string, which: 'a' | 'b'): Promise<void> {
  const files = await visibleFiles(dir);
  expect([...files.keys()].sort()).toEqual(Object.keys(world.files[which]).sort());
  for (const [p, b] of Object.entries(world.files[which])) expect(sha256(files.get(p)!), p).toBe(sha256(b));
}

describe('convergent init', () => {
  it('a restarted pod (volume kept) re-verifies the placed model and exits 0 without downloading', async () => {
    const vol = await tempDir('vol');
    const into = path.join(vol, 'model');
    const first = await init({ MODELSEAL_SOURCE: world.viaProxy.a, MODELSEAL_INTO: into });
    expect(first.code, first.stderr).toBe(0);
    await expectModel(into, 'a');

    const before = world.proxy.stats.bytesToClient;
    const again = await init({ MODELSEAL_SOURCE: world.viaProxy.a, MODELSEAL_INTO: into });
    expect(again.code, again.stderr).toBe(0);
    const lines = decision(again.logs);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ outcome: 'allowed', reason: 'already placed; re-verified', exit_code: 0 });
    // Manifest and signature only: far less than one copy of the 2 MiB weights.
    expect(world.proxy.stats.bytesToClient - before).toBeLessThan(64 * 1024);
    await expectModel(into, 'a');
    expect(await leftovers(vol)).toEqual([]);
  });

  it('a new model in the spec replaces the old one; a tampered placed file is replaced too', async () => {
    const vol = await tempDir('vol');
    const into = path.join(vol, 'model');
    expect((await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: into })).code).toBe(0);
    const next = await init({ MODELSEAL_SOURCE: world.refs.b, MODELSEAL_INTO: into });
    expect(next.code, next.stderr).toBe(0);
    expect(decision(next.logs)[0]).toMatchObject({ outcome: 'allowed', reason: 'signature and every file verified' });
    await expectModel(into, 'b');
    const receipt = JSON.parse(await readFile(`${into}.receipt.json`, 'utf8'));
    expect(receipt.reference).toBe(world.refs.b);

    // Someone changes a placed byte (root ignores 0444): the next start must not serve it.
    const w = path.join(into, 'weights.dat');
    await chmod(into, 0o755);
    const buf = await readFile(w);
    buf[7] = buf[7]! ^ 1;
    await writeFile(w, buf);
    const healed = await init({ MODELSEAL_SOURCE: world.refs.b, MODELSEAL_INTO: into });
    expect(healed.code, healed.stderr).toBe(0);
    expect(decision(healed.logs)[0]!.reason).toBe('signature and every file verified');
    await expectModel(into, 'b');
    expect(await leftovers(vol)).toEqual([]);
  });

  it('a tampered blob over a placed model: exit 4, the line names the signer, the placed model stays', async () => {
    const vol = await tempDir('vol');
    const into = path.join(vol, 'model');
    expect((await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: into })).code).toBe(0);
    const r = await init({ MODELSEAL_SOURCE: world.refs.tampered, MODELSEAL_INTO: into });
    expect(r.code, r.stderr).toBe(4);
    expect(decision(r.logs)[0]).toMatchObject({ outcome: 'blocked', code: 'DIGEST_MISMATCH', signer: expect.stringMatching(/^key:/) });
    await expectModel(into, 'a');
    expect(await leftovers(vol)).toEqual([]);
  });

  it('modelseal pull refuses a non-empty target unless --replace', async () => {
    const vol = await tempDir('vol');
    const into = path.join(vol, 'model');
    await mkdir(into);
    await writeFile(path.join(into, 'notes.txt'), 'mine');
    const refused = await pull(world.refs.a, into);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is not empty; pass --replace');
    expect(await readFile(path.join(into, 'notes.txt'), 'utf8')).toBe('mine');
    const replaced = await pull(world.refs.a, into, '--replace');
    expect(replaced.code, replaced.stderr).toBe(0);
    await expectModel(into, 'a');
    const again = await pull(world.refs.a, into, '--replace');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Already placed; re-verified');
  });
});

describe('any target', () => {
  it('--into a mount point: staging inside it, entries renamed in, hidden receipt; the next run converges', async () => {
    const mnt = await tmpfs('size=64m,mode=0755');
    const first = await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: mnt });
    expect(first.code, first.stderr).toBe(0);
    await expectModel(mnt, 'a');
    expect(decision(first.logs)[0]).toMatchObject({ placed_at: mnt, receipt: path.join(mnt, '.modelseal-receipt.json') });
    expect((await stat(path.join(mnt, 'weights.dat'))).mode & 0o777).toBe(0o444);
    expect((await stat(path.join(mnt, 'tokenizer'))).mode & 0o777).toBe(0o555);
    expect(await leftovers(mnt)).toEqual([]);

    const again = await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: mnt });
    expect(decision(again.logs)[0]).toMatchObject({ outcome: 'allowed', reason: 'already placed; re-verified' });
    const swap = await pull(world.refs.b, mnt, '--replace');
    expect(swap.code, swap.stderr).toBe(0);
    await expectModel(mnt, 'b');
    expect(await leftovers(mnt)).toEqual([]);
  });

  it('a read-only target filesystem: exit 7 with a reason naming the fix', async () => {
    const ro = await tmpfs('size=1m,ro');
    const r = await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: ro });
    expect(r.code).toBe(7);
    expect(decision(r.logs)[0]).toMatchObject({ outcome: 'failed', code: 'IO' });
    expect(String(decision(r.logs)[0]!.reason)).toMatch(/read-only file system; place the model on a writable volume/);
  });

  it('a volume the init user (uid 65532) may not write: exit 7 naming fsGroup', async () => {
    const vol = await tempDir('vol');
    await chmod(vol, 0o755);
    const r = spawnSync('setpriv', ['--reuid', '65532', '--regid', '65532', '--clear-groups', process.execPath, 'bin/modelseal', 'init'], {
      env: initEnv({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: path.join(vol, 'model'), MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true' }),
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(7);
    const line = JSON.parse(r.stderr.split('\n').find((l) => l.includes('"decision: failed"'))!);
    expect(line).toMatchObject({ outcome: 'failed', code: 'IO' });
    expect(line.reason).toMatch(/permission denied for uid 65532; make the volume writable for it \(pod securityContext\.fsGroup\)/);
  });

  it('a filesystem too small for the model: exit 7 before any download, naming the fix', async () => {
    const small = await tmpfs('size=1m');
    const r = await pull(world.refs.a, path.join(small, 'model'));
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/not enough space .*give the volume more room/);
    expect(await leftovers(small)).toEqual([]);
  });
});

describe('termination and deadlines', () => {
  it('SIGTERM mid-pull: exit 143, one decision line "terminated by SIGTERM", staging gone', async () => {
    const vol = await tempDir('vol');
    world.proxy.setPlan(() => ({ kind: 'throttle', bytesPerSecond: 256 * 1024 }));
    try {
      const run = startCli(['init'], initEnv({ MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true', MODELSEAL_SOURCE: world.viaProxy.a, MODELSEAL_INTO: path.join(vol, 'model') }), false);
      // Wait until the download is under way (staging exists), then terminate.
      const t0 = Date.now();
      while ((await leftovers(vol)).filter((n) => n.includes('staging')).length === 0 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(143);
      const lines = decision(r.logs);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ outcome: 'failed', reason: 'terminated by SIGTERM', code: 'TERMINATED', exit_code: 143 });
      expect(await leftovers(vol)).toEqual([]);
      expect(await visibleFiles(path.join(vol, 'model'))).toEqual(new Map());
    } finally {
      world.proxy.setPlan(() => ({ kind: 'pass' }));
    }
  });

  it('--timeout against a registry trickling a byte every 2 s: exit 7 within a few seconds of the deadline', async () => {
    const vol = await tempDir('vol');
    world.proxy.setPlan(() => ({ kind: 'trickle', everyMs: 2000 }));
    try {
      const t0 = Date.now();
      const r = await pull(world.viaProxy.a, path.join(vol, 'model'), '--timeout', '4s');
      const took = Date.now() - t0;
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toContain('TIMEOUT: timed out: the pull did not finish within 4s');
      // Not a latency assertion (start-up on a loaded box varies): without the deadline this pull
      // would trickle for weeks; the run control gives the work 3 s to unwind after it.
      expect(took).toBeLessThan(4000 + 30_000);
      expect(await leftovers(vol)).toEqual([]);
    } finally {
      world.proxy.setPlan(() => ({ kind: 'pass' }));
    }
  });

  it('the minimum-progress rule: a transfer that stalls mid-file fails with exit 7 "stalled"', async () => {
    const vol = await tempDir('vol');
    // Each connection's first 256 KiB pass (manifest, signature, the start of the weights), then a byte every 200 ms.
    world.proxy.setPlan(() => ({ kind: 'trickle', everyMs: 200, after: 256 * 1024 }));
    try {
      const r = await startCli(
        ['init', '--stall-timeout', '2s'],
        initEnv({ MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_PLAIN_HTTP: 'true', MODELSEAL_SOURCE: world.viaProxy.b, MODELSEAL_INTO: path.join(vol, 'model'), MODELSEAL_CONCURRENCY: '1' }),
        false,
      ).done;
      expect(r.code, r.stderr).toBe(7);
      expect(decision(r.logs)[0]).toMatchObject({ outcome: 'failed', code: 'TIMEOUT' });
      expect(String(decision(r.logs)[0]!.reason)).toMatch(/^stalled: \d+ bytes arrived in the last 2s/);
      expect(await leftovers(vol)).toEqual([]);
    } finally {
      world.proxy.setPlan(() => ({ kind: 'pass' }));
    }
  });
});

describe('progress and logs', () => {
  it('not on a terminal: JSON progress lines with files, bytes, rate and ETA fields', async () => {
    const vol = await tempDir('vol');
    const r = await init({ MODELSEAL_SOURCE: world.refs.a, MODELSEAL_INTO: path.join(vol, 'model') });
    expect(r.code).toBe(0);
    const progress = r.logs.filter((l) => l.event_type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    const total = Object.values(world.files.a).reduce((n, b) => n + b.length, 0);
    expect(progress.at(-1)).toMatchObject({ phase: 'download', files_done: 3, files_total: 3, bytes_done: total, bytes_total: total });
    for (const k of ['rate_bytes_per_s', 'eta_s', 'elapsed_s']) expect(progress.at(-1)).toHaveProperty(k);
  });

  it('on a terminal: a live display and human text only; --log-format json brings the JSON lines back', async () => {
    const vol = await tempDir('vol');
    const cli = `${JSON.stringify(process.execPath)} bin/modelseal pull ${world.refs.a} --plain-http --public-key ${world.publicKey}`;
    // script(1) gives the command a pseudo-terminal, as a person's shell would.
    const tty = execFileSync('script', ['-qec', `${cli} --into ${path.join(vol, 'm1')}`, '/dev/null'], { cwd: path.resolve('.'), encoding: 'utf8', env: { ...process.env, MODELSEAL_LOG_LEVEL: 'info' } });
    expect(tty).toContain('Pulled and verified');
    expect(tty).toMatch(/download 3\/3 files, 2\.0 MiB of 2\.0 MiB/);
    expect(tty).not.toContain('{"level"');
    const json = execFileSync('script', ['-qec', `${cli} --into ${path.join(vol, 'm2')} --log-format json`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, MODELSEAL_LOG_LEVEL: 'info' } });
    expect(json).toContain('"event_type":"model_pull"');
  });

  it('an invalid MODELSEAL_LOG_LEVEL is an error (pull: exit 2; init: a failed decision line, exit 2)', async () => {
    const vol = await tempDir('vol');
    const p = await startCli(['pull', world.refs.a, '--into', path.join(vol, 'm'), '--public-key', world.publicKey, '--plain-http'], { MODELSEAL_LOG_LEVEL: 'verbose' }).done;
    expect(p.code).toBe(2);
    expect(p.stderr).toContain('MODELSEAL_LOG_LEVEL must be one of');
    const i = await startCli(['init'], initEnv({ MODELSEAL_LOG_LEVEL: 'loud', MODELSEAL_SOURCE: world.refs.a, MODELSEAL_PUBLIC_KEY: world.publicKey, MODELSEAL_INTO: path.join(vol, 'i') }), false).done;
    expect(i.code).toBe(2);
    expect(decision(i.logs)[0]).toMatchObject({ outcome: 'failed', code: 'CONFIG_INVALID' });
  });

  it('a TLS handshake answered in plain HTTP says what to do', async () => {
    const vol = await tempDir('vol');
    const r = await startCli(['pull', world.refs.a, '--into', path.join(vol, 'm'), '--public-key', world.publicKey, '--registry-retries', '0']).done;
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('the registry speaks plain HTTP; pass --plain-http if that is intended');
  });
});

describe('the fault loops\' own check', () => {
  it('unverifiedBytes reports a placed file whose bytes no signature covers', async () => {
    const dir = await tempDir('guard');
    await writeFile(path.join(dir, 'weights.dat'), 'not signed');
    expect(unverifiedBytes(await visibleFiles(dir), world.signed)).toEqual([{ path: 'weights.dat', bytes: 10 }]);
    await rm(dir, { recursive: true });
  });
});
