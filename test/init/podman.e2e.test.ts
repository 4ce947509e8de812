import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { tempDir } from '../harness/process.js';
import {
  containerState,
  kubePlay,
  logs,
  podman,
  preparePodImages,
  REPO,
  runtimeSpec,
  waitExit,
  type PlayedPod,
} from '../harness/podman.js';
import { EXPECTED, startInitWorld, type InitWorld } from './fixtures.js';

/**
 * The pod-start gate end to end: the repo's Dockerfile built on a local Node 24 base, the shipped
 * example Pod (init container securityContext, seccomp profile, read-only server mount) run by
 * `podman kube play` against a loopback registry.
 */
const INIT = 'modelseal-init';
const NAMESPACE = 'e2e';

let world: InitWorld;
let baseImage: string;
let initImage: string;
let seccompRoot: string;
const pods: PlayedPod[] = [];

beforeAll(async () => {
  world = await startInitWorld();
  ({ baseImage, initImage, seccompRoot } = await preparePodImages());
}, 900_000);

afterAll(async () => {
  for (const p of pods) await p.remove();
  await world?.stop();
});

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  imagePullPolicy?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: Record<string, unknown>;
}

interface PodOptions {
  /** MODELSEAL_INTO (default: the example's /models/model). */
  into?: string;
  /** The emptyDir's podman volume name (default: one of the pod's own). */
  volume?: string;
}

/** The shipped examples/pod.yaml, pointed at the test's image, registry and key; nothing else changed. */
async function podYaml(podName: string, source: string, opts: PodOptions = {}): Promise<string> {
  const modelDir = opts.into ?? '/models/model';
  const pod = parse(await readFile(path.join(REPO, 'init-container/examples/pod.yaml'), 'utf8'));
  pod.metadata.name = podName;
  // podman removes a succeeded init container by default ("once"); keep it so the test can inspect it.
  pod.metadata.annotations['io.podman.annotations.init.container.type'] = 'always';
  // Loopback registry: the pod shares the host's network namespace.
  pod.spec.hostNetwork = true;
  pod.spec.restartPolicy = 'Never';
  const init: Container = pod.spec.initContainers[0];
  init.image = initImage;
  init.imagePullPolicy = 'Never';
  init.env = (init.env ?? [])
    .filter((e) => e.name !== 'MODELSEAL_REGISTRY_AUTH_FILE')
    .map((e) => (e.name === 'MODELSEAL_SOURCE' ? { ...e, value: source } : e))
    .map((e) => (e.name === 'MODELSEAL_INTO' ? { ...e, value: modelDir } : e))
    // podman 4.3 resolves fieldRef metadata.name but not metadata.namespace (kube play has no namespaces).
    .map((e) => (e.name === 'POD_NAMESPACE' ? { name: e.name, value: NAMESPACE } : e));
  init.env.push({ name: 'MODELSEAL_PLAIN_HTTP', value: 'true' });
  init.volumeMounts = init.volumeMounts!.filter((m) => m.name !== 'registry-auth');
  // podman 4.3 kube play has no configMap volumes: the trust ConfigMap becomes a hostPath.
  pod.spec.volumes = pod.spec.volumes
    .filter((v: { name: string }) => v.name !== 'registry-auth')
    .map((v: { name: string }) => (v.name === 'trust' ? { name: 'trust', hostPath: { path: world.keysDir, type: 'Directory' } } : v));
  // podman 4.3 names an emptyDir's "anonymous" volume after the volume (`models`), so pods alive at
  // the same time would share it: give this pod's volume a name of its own.
  const volume = opts.volume ?? `models-${podName}`;
  for (const v of pod.spec.volumes) if (v.name === 'models') v.name = volume;
  for (const c of [...pod.spec.initContainers, ...pod.spec.containers] as Container[]) {
    for (const m of c.volumeMounts ?? []) if (m.name === 'models') m.name = volume;
  }
  const server: Container = pod.spec.containers[0];
  server.image = baseImage;
  server.imagePullPolicy = 'Never';
  delete server.args;
  server.command = [
    '/bin/sh',
    '-c',
    [
      'echo SERVER_STARTED',
      `cat ${modelDir}/config.json; echo`,
      `sha256sum ${modelDir}/weights.dat ${modelDir}/tokenizer/vocab.txt`,
      `stat -c "MODE %a %n" ${modelDir} ${modelDir}/weights.dat`,
      `echo x >> ${modelDir}/weights.dat && echo WRITE_SUCCEEDED || echo WRITE_REFUSED`,
      `touch ${modelDir}/new-file && echo CREATE_SUCCEEDED || echo CREATE_REFUSED`,
      'ls -a /models',
    ].join('; '),
  ];
  return stringify(pod);
}

async function play(scenario: string, source: string, opts: PodOptions = {}): Promise<PlayedPod> {
  const name = `ms-${scenario.toLowerCase()}-${randomBytes(3).toString('hex')}`;
  const pod = await kubePlay(await podYaml(name, source, opts), name, { seccompRoot, volumes: [opts.volume ?? `models-${name}`] });
  pods.push(pod);
  return pod;
}

/** The init container's decision lines (JSON on stderr; podman logs merges the streams). */
async function decisions(pod: PlayedPod): Promise<Array<Record<string, unknown>>> {
  const out = await logs(`${pod.name}-${INIT}`);
  return (out.stdout + '\n' + out.stderr)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.event_type === 'weight_integrity_check');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('modelseal init under podman kube play', () => {
  let allowed: PlayedPod;
  let volume: string;

  it('a correctly signed model: init exits 0, the server starts, reads the files, cannot write them', async () => {
    allowed = await play('good', world.refs.good);
    const init = await containerState(`${allowed.name}-${INIT}`);
    expect(init, allowed.play.stderr).toMatchObject({ exitCode: 0 });
    expect(await waitExit(`${allowed.name}-server`)).toBe(0);
    const out = await logs(`${allowed.name}-server`);
    const text = out.stdout + out.stderr;
    expect(text).toContain('SERVER_STARTED');
    expect(text).toContain('"model_type":"tiny"');
    expect(text).toContain(`${sha(world.goodFiles['weights.dat']!)}  /models/model/weights.dat`);
    expect(text).toContain('MODE 555 /models/model');
    expect(text).toContain('MODE 444 /models/model/weights.dat');
    expect(text).toContain('WRITE_REFUSED');
    expect(text).toContain('CREATE_REFUSED');
    expect(text).toMatch(/Read-only file system/);
    expect(text).toContain('model.receipt.json');

    const lines = await decisions(allowed);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event_type: 'weight_integrity_check',
      outcome: 'allowed',
      pod_name: allowed.name,
      namespace: NAMESPACE,
      model: world.refs.good,
      resolved_digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      root_digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      signer: expect.stringMatching(/^key:[0-9a-f]{64}$/),
      code: 'OK',
      timestamp_utc: expect.stringMatching(/Z$/),
    });
  });

  it('the init container ran as non-root, read-only root, no privileges, no capabilities, under the shipped seccomp profile', async () => {
    const spec = await runtimeSpec(`${allowed.name}-${INIT}`);
    expect(spec.process.user).toMatchObject({ uid: 65532, gid: 65532 });
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.noNewPrivileges).toBe(true);
    for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient']) {
      expect(spec.process.capabilities?.[set] ?? []).toEqual([]);
    }
    const shipped = JSON.parse(await readFile(path.join(REPO, 'init-container/seccomp.json'), 'utf8'));
    const applied = spec.linux.seccomp;
    expect(applied.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(applied.defaultErrnoRet).toBe(shipped.defaultErrnoRet);
    const allowedNames = applied.syscalls.filter((s: { action: string }) => s.action === 'SCMP_ACT_ALLOW').flatMap((s: { names: string[] }) => s.names);
    expect(allowedNames.sort()).toEqual([...shipped.syscalls[0].names].sort());
  });

  it('the profile is enforced: a syscall outside it fails inside the init image', async () => {
    // setpriority is nothing modelseal init does; under the profile it must fail with ENOSYS.
    const r = await podman(
      [
        'run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
        '--security-opt', `seccomp=${path.join(REPO, 'init-container/seccomp.json')}`,
        '--entrypoint', '/nodejs/bin/node', initImage,
        '-e', "try { require('os').setPriority(0, 5); console.log('ALLOWED') } catch (e) { console.log('DENIED', e.info?.code ?? e.code) }",
      ],
      { allowFail: true },
    );
    expect(r.stdout.trim(), r.stderr).toBe('DENIED ENOSYS');
  });

  it('audit passes on the deployed files, and fails after a file in the volume is changed', async () => {
    const { stdout } = await podman(['inspect', `${allowed.name}-server`, '--format', '{{json .Mounts}}']);
    const mounts = JSON.parse(stdout) as Array<{ Destination: string; Source: string }>;
    volume = mounts.find((m) => m.Destination === '/models')!.Source;
    const audit = () =>
      podman(
        [
          'run', '--rm', '--network', 'none', '--read-only',
          '-v', `${volume}:/models:ro`, '-v', `${world.keysDir}:/keys:ro`,
          '--entrypoint', '/nodejs/bin/node', initImage,
          '/app/bin/modelseal', 'audit', '/models/model', '--receipt', '/models/model.receipt.json', '--public-key', '/keys/release.pub', '--json',
        ],
        { allowFail: true },
      );
    const ok = await audit();
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, files: { changed: [], missing: [], extra: [] } });

    // Someone with host access edits a weight in place (root ignores the 0444 mode).
    const weights = path.join(volume, 'model/weights.dat');
    const buf = await readFile(weights);
    buf[42] = buf[42]! ^ 1;
    await writeFile(weights, buf);
    const bad = await audit();
    expect(bad.code).toBe(4);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, code: 'DIGEST_MISMATCH', files: { changed: ['weights.dat'] } });
  });

  for (const scenario of ['tampered', 'wrongSigner', 'unsigned', 'unreachable'] as const) {
    it(`${scenario}: init exits ${EXPECTED[scenario].exit}, the server never starts, the log says ${EXPECTED[scenario].outcome}`, async () => {
      const pod = await play(scenario, world.refs[scenario]);
      expect(pod.play.code).not.toBe(0);
      expect(pod.play.stderr, JSON.stringify(await decisions(pod))).toContain(`exited with code ${EXPECTED[scenario].exit}`);
      expect(await containerState(`${pod.name}-${INIT}`)).toMatchObject({ exitCode: EXPECTED[scenario].exit });
      const server = await containerState(`${pod.name}-server`);
      expect(server.status).toBe('created');
      expect(server.startedAt).toMatch(/^0001-01-01/);
      const lines = await decisions(pod);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        event_type: 'weight_integrity_check',
        outcome: EXPECTED[scenario].outcome,
        exit_code: EXPECTED[scenario].exit,
        pod_name: pod.name,
        namespace: NAMESPACE,
        model: world.refs[scenario],
        timestamp_utc: expect.any(String),
      });
      for (const field of ['resolved_digest', 'root_digest', 'signer', 'reason', 'code']) expect(lines[0]).toHaveProperty(field);
      if (scenario === 'tampered') expect(lines[0]!.signer).toMatch(/^key:/);
    });
  }
});

/** The host directory behind a podman volume (to look at what init left in it). */
async function volumeDir(volume: string): Promise<string> {
  return (await podman(['volume', 'inspect', volume, '--format', '{{.Mountpoint}}'])).stdout.trim();
}

const entries = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).sort();

describe('a pod\'s life under podman kube play', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy({ host: '127.0.0.1', port: world.registry.port });
  });
  afterAll(async () => proxy?.stop());
  const viaProxy = (ref: string) => ref.replace(world.registry.host, `127.0.0.1:${proxy.port}`);

  it('restarted with its volume kept, the pod starts again: init exits 0, "already placed; re-verified", no download', async () => {
    const pod = await play('restart', viaProxy(world.refs.good));
    expect(await containerState(`${pod.name}-${INIT}`), pod.play.stderr).toMatchObject({ exitCode: 0 });
    expect(await waitExit(`${pod.name}-server`)).toBe(0);
    await podman(['pod', 'stop', pod.name]);
    const before = proxy.stats.bytesToClient;
    await podman(['pod', 'start', pod.name]);
    expect(await waitExit(`${pod.name}-server`)).toBe(0);
    expect(await containerState(`${pod.name}-${INIT}`)).toMatchObject({ exitCode: 0 });
    const lines = await decisions(pod);
    expect(lines.at(-1)).toMatchObject({ outcome: 'allowed', reason: 'already placed; re-verified', exit_code: 0 });
    expect(proxy.stats.bytesToClient - before).toBeLessThan(world.goodFiles['weights.dat']!.length);
    const out = await logs(`${pod.name}-server`);
    expect(out.stdout + out.stderr).toContain(`${sha(world.goodFiles['weights.dat']!)}  /models/model/weights.dat`);
  });

  it('--into the volume root: the model lands at /models, the receipt hidden beside it, no staging left', async () => {
    const pod = await play('root', world.refs.good, { into: '/models' });
    expect(await containerState(`${pod.name}-${INIT}`), pod.play.stderr).toMatchObject({ exitCode: 0 });
    expect(await waitExit(`${pod.name}-server`)).toBe(0);
    const out = await logs(`${pod.name}-server`);
    const text = out.stdout + out.stderr;
    expect(text).toContain(`${sha(world.goodFiles['weights.dat']!)}  /models/weights.dat`);
    expect(text).toContain('WRITE_REFUSED');
    expect((await decisions(pod))[0]).toMatchObject({ outcome: 'allowed', placed_at: '/models', receipt: '/models/.modelseal-receipt.json' });
    expect(await entries(await volumeDir(`models-${pod.name}`))).toEqual(['.modelseal-receipt.json', 'config.json', 'tokenizer', 'weights.dat']);
  });

  it('a new model digest in the spec replaces the old model in the kept volume', async () => {
    const volume = `models-ms-newdigest-${randomBytes(3).toString('hex')}`;
    const first = await play('v1', world.refs.good, { volume });
    expect(await containerState(`${first.name}-${INIT}`), first.play.stderr).toMatchObject({ exitCode: 0 });
    await podman(['pod', 'rm', '-f', first.name]);
    const second = await play('v2', world.refs.goodV2, { volume });
    expect(await containerState(`${second.name}-${INIT}`), second.play.stderr).toMatchObject({ exitCode: 0 });
    expect(await waitExit(`${second.name}-server`)).toBe(0);
    expect((await decisions(second))[0]).toMatchObject({ outcome: 'allowed', reason: 'signature and every file verified', model: world.refs.goodV2 });
    const out = await logs(`${second.name}-server`);
    expect(out.stdout + out.stderr).toContain(`${sha(world.goodV2Files['weights.dat']!)}  /models/model/weights.dat`);
    expect((await entries(await volumeDir(volume))).filter((n) => n.startsWith('.modelseal-'))).toEqual([]);
  });

  it('SIGTERM during init: exit 143, one decision line "terminated by SIGTERM", the volume clean', async () => {
    proxy.setPlan(() => ({ kind: 'throttle', bytesPerSecond: 16 * 1024 }));
    try {
      const name = `ms-sigterm-${randomBytes(3).toString('hex')}`;
      const volume = `models-${name}`;
      const playing = kubePlay(await podYaml(name, viaProxy(world.refs.good)), name, { seccompRoot, volumes: [volume] });
      // Wait until the download is under way inside the volume, then stop the init container as kubelet would.
      let dir = '';
      const t0 = Date.now();
      while (Date.now() - t0 < 120_000) {
        dir = (await podman(['volume', 'inspect', volume, '--format', '{{.Mountpoint}}'], { allowFail: true })).stdout.trim();
        if (dir && (await entries(dir)).some((n) => n.startsWith('.modelseal-staging-'))) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await entries(dir)).some((n) => n.startsWith('.modelseal-staging-'))).toBe(true);
      await podman(['kill', '--signal', 'TERM', `${name}-${INIT}`]);
      const pod = await playing;
      pods.push(pod);
      expect(await containerState(`${name}-${INIT}`)).toMatchObject({ exitCode: 143 });
      expect((await containerState(`${name}-server`)).status).toBe('created');
      const lines = await decisions(pod);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ outcome: 'failed', reason: 'terminated by SIGTERM', code: 'TERMINATED', exit_code: 143 });
      expect(await entries(dir)).toEqual([]);
    } finally {
      proxy.setPlan(() => ({ kind: 'pass' }));
    }
  });
});

describe('init-container/README.md recipes, run verbatim in the init image', () => {
  const recipes = async () => {
    const text = await readFile(path.join(REPO, 'init-container/README.md'), 'utf8');
    return [...text.matchAll(/<!-- recipe: ([a-z-]+) -->\n```sh\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, script: m[2]! }));
  };

  it('every recipe block runs and exits 0 against a signed model, a key and a receipts volume', async () => {
    const list = await recipes();
    expect(list.map((r) => r.name)).toEqual(['verify-in-place', 'audit']);
    const work = await tempDir('recipes');
    const models = path.join(work, 'models');
    const receipts = path.join(work, 'receipts');
    await mkdir(receipts, { mode: 0o777 });
    await chmod(receipts, 0o777);
    await mkdir(models);
    await cp(world.good.dir, path.join(models, 'model'), { recursive: true });
    await chmod(work, 0o755);
    // `modelseal` on PATH as the image runs it (the image itself has no shell entrypoint).
    const bin = path.join(work, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'modelseal'), '#!/bin/sh\nexec /nodejs/bin/node /app/bin/modelseal "$@"\n', { mode: 0o755 });
    for (const r of list) {
      const res = await podman(
        [
          'run', '--rm', '--network', 'none', '--read-only', '--user', '65532:65532',
          '-v', `${models}:/models:ro`, '-v', `${world.keysDir}:/etc/modelseal/trust:ro`, '-v', `${receipts}:/receipts`, '-v', `${bin}:/usr/local/bin:ro`,
          '-e', 'PATH=/usr/local/bin:/bin', '--entrypoint', '/bin/sh', initImage, '-ec', r.script,
        ],
        { allowFail: true },
      );
      expect(res.code, `${r.name}\n${res.stdout}\n${res.stderr}`).toBe(0);
    }
  });
});
