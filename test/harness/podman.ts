import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cleanEnv, tempDir } from './process.js';

/**
 * podman for the init-container end-to-end test (test-servers.md §5). Nothing is pulled: the
 * base image is assembled from the local Node 24 binary (+ its shared libraries + busybox for the
 * test's server container), imported, and the repo's Dockerfile is built against it with
 * APP_FROM=prebuilt.
 */

const run = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The host config this VM needs (crun fails on hybrid cgroups; no CAP_SYS_RESOURCE for big ulimits). */
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`;

let confPath: string | undefined;

/** Env for every podman call: our containers.conf via CONTAINERS_CONF, never the host's /etc. */
export async function podmanEnv(): Promise<NodeJS.ProcessEnv> {
  if (!confPath) {
    const dir = await tempDir('podman-conf');
    confPath = path.join(dir, 'containers.conf');
    await writeFile(confPath, CONTAINERS_CONF);
  }
  return cleanEnv({ CONTAINERS_CONF: confPath });
}

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function podman(args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<PodmanResult> {
  const env = await podmanEnv();
  return new Promise((resolve, reject) => {
    const child = spawn('podman', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const res = { code: code ?? -1, stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        reject(new Error(`podman ${args.join(' ')} exited ${res.code}\n${stderr.slice(-4000)}`));
      } else resolve(res);
    });
  });
}

/** Why the podman suite cannot run here, or undefined when it can. */
export async function podmanUnavailable(): Promise<string | undefined> {
  for (const bin of ['podman', 'runc', 'catatonit', 'busybox']) {
    try {
      await run('sh', ['-c', `command -v ${bin} || test -x /usr/libexec/podman/${bin}`]);
    } catch {
      return `${bin} is not installed (apt-get install podman runc catatonit busybox-static)`;
    }
  }
  try {
    await podman(['info', '--format', '{{.Host.OCIRuntime.Name}}'], { timeoutMs: 60_000 });
  } catch (err) {
    return `podman info failed: ${String(err)}`;
  }
  return undefined;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function imageExists(ref: string): Promise<boolean> {
  return (await podman(['image', 'exists', ref], { allowFail: true })).code === 0;
}

/** The Node 24 binary the repo pins (npm `node` package), resolved through its symlinks. */
export async function localNodeBinary(): Promise<string> {
  return realpath(path.join(REPO, 'node_modules/node/bin/node'));
}

/** Shared libraries `ldd` resolves for a binary, plus the dynamic loader. */
async function sharedLibs(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/**
 * A stand-in for the distroless Node 24 runtime: node at /nodejs/bin/node (the distroless
 * layout the Dockerfile's ENTRYPOINT uses), its libraries, /etc/passwd with `nonroot` 65532,
 * and busybox (the real distroless image has no shell; only the test's server container uses it).
 * Tagged by the node binary's hash so repeated runs reuse it.
 */
export async function buildNodeBaseImage(): Promise<string> {
  const node = await localNodeBinary();
  const tag = `localhost/modelseal-test-node24:${(await sha256File(node)).slice(0, 16)}`;
  if (await imageExists(tag)) return tag;

  const work = await tempDir('node-base');
  const root = path.join(work, 'rootfs');
  try {
    await mkdir(path.join(root, 'nodejs/bin'), { recursive: true });
    await copyFile(node, path.join(root, 'nodejs/bin/node'));
    await chmod(path.join(root, 'nodejs/bin/node'), 0o755);
    for (const lib of await sharedLibs(node)) {
      const dest = path.join(root, lib);
      await mkdir(path.dirname(dest), { recursive: true });
      await copyFile(await realpath(lib), dest);
    }
    // The loader's canonical path is a symlink on Debian (/lib64 → /lib/x86_64-linux-gnu/…).
    const loader = '/lib64/ld-linux-x86-64.so.2';
    if (existsSync(loader) && !existsSync(path.join(root, loader))) {
      await mkdir(path.join(root, '/lib64'), { recursive: true });
      await copyFile(await realpath(loader), path.join(root, loader));
    }
    await mkdir(path.join(root, 'bin'), { recursive: true });
    await copyFile('/usr/bin/busybox', path.join(root, 'bin/busybox'));
    await chmod(path.join(root, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'ls', 'cat', 'id', 'touch', 'echo', 'grep', 'stat', 'sleep', 'test', 'find', 'sha256sum', 'mkdir']) {
      await symlink('busybox', path.join(root, 'bin', applet));
    }
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
    await writeFile(path.join(root, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\n');
    await mkdir(path.join(root, 'tmp'), { mode: 0o1777 });
    await chmod(path.join(root, 'tmp'), 0o1777);
    const tar = path.join(work, 'rootfs.tar');
    await run('tar', ['-C', root, '--numeric-owner', '-cf', tar, '.'], { maxBuffer: 1 << 20 });
    await podman(['import', '--change', 'USER=65532:65532', tar, tag]);
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Production dependency closure from package-lock.json (packages not flagged `dev`). */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev && !v.devOptional)
    .map(([k]) => k);
}

/**
 * Compile the current tree and lay out what the image's /app holds, then build the repo's
 * Dockerfile (APP_FROM=prebuilt) on `baseImage`. Returns the image reference.
 */
export async function buildInitImage(baseImage: string): Promise<string> {
  const work = await tempDir('init-image');
  const app = path.join(work, 'app');
  try {
    await mkdir(app, { recursive: true });
    // tsc emits even when an unrelated file in the shared tree has a type error; the e2e judges behaviour.
    await run(path.join(REPO, 'node_modules/.bin/tsc'), ['-p', path.join(REPO, 'tsconfig.json'), '--outDir', path.join(app, 'dist'), '--sourceMap', 'false'], {
      cwd: REPO,
      maxBuffer: 16 << 20,
    }).catch((err: { stdout?: string }) => {
      if (!existsSync(path.join(app, 'dist/cli/main.js'))) throw new Error(`tsc produced no dist/cli/main.js\n${err.stdout ?? ''}`);
    });
    for (const dir of ['bin', 'schemas']) await cp(path.join(REPO, dir), path.join(app, dir), { recursive: true });
    await copyFile(path.join(REPO, 'package.json'), path.join(app, 'package.json'));
    for (const pkg of productionPackages()) {
      const src = path.join(REPO, pkg);
      if (existsSync(src)) await cp(src, path.join(app, pkg), { recursive: true, verbatimSymlinks: true });
    }
    const digest = createHash('sha256').update(await tarDigestInput(app)).digest('hex').slice(0, 16);
    const tag = `localhost/modelseal-init-test:${digest}`;
    if (await imageExists(tag)) return tag;
    await podman(
      [
        'build',
        '--file', path.join(REPO, 'init-container/Dockerfile'),
        '--ignorefile', path.join(REPO, 'init-container/Dockerfile.dockerignore'),
        '--build-arg', `RUNTIME_IMAGE=${baseImage}`,
        '--build-arg', 'APP_FROM=prebuilt',
        '--build-context', `prebuilt=${app}`,
        '--pull=never',
        '--tag', tag,
        REPO,
      ],
      { timeoutMs: 600_000 },
    );
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Cheap content key for the compiled app (dist + base image decide the image; deps come from the lock). */
async function tarDigestInput(app: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', 'find dist bin schemas package.json -type f -print0 | sort -z | xargs -0 sha256sum'], {
    cwd: app,
    maxBuffer: 64 << 20,
  });
  return stdout + (await readFile(path.join(REPO, 'package-lock.json'), 'utf8')) + (await readFile(path.join(REPO, 'init-container/Dockerfile'), 'utf8'));
}

export interface ContainerState {
  status: string;
  exitCode: number;
  startedAt: string;
}

export async function containerState(name: string): Promise<ContainerState> {
  const { stdout } = await podman(['inspect', name, '--format', '{{.State.Status}}|{{.State.ExitCode}}|{{.State.StartedAt}}']);
  const [status, code, startedAt] = stdout.trim().split('|');
  return { status: status!, exitCode: Number(code), startedAt: startedAt! };
}

/** A container's OCI runtime config (what runc was actually told: seccomp, user, caps, readonly root). */
export async function runtimeSpec(name: string): Promise<Record<string, any>> {
  const { stdout } = await podman(['inspect', name, '--format', '{{.Id}}']);
  const { stdout: graph } = await podman(['info', '--format', '{{.Store.GraphRoot}}']);
  const file = path.join(graph.trim(), 'overlay-containers', stdout.trim(), 'userdata/config.json');
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
}

export async function logs(name: string): Promise<{ stdout: string; stderr: string }> {
  const r = await podman(['logs', name], { allowFail: true });
  return { stdout: r.stdout, stderr: r.stderr };
}

export interface PlayedPod {
  name: string;
  play: PodmanResult;
  /** Remove the pod and its containers (and the emptyDir volume with them). */
  remove(): Promise<void>;
}

/**
 * `podman kube play` a Pod manifest. Init containers run to completion inside `play`: a failing
 * one makes `play` fail and leaves the app containers `Created` (never started).
 */
export async function kubePlay(yamlText: string, podName: string, opts: { seccompRoot?: string; volumes?: string[] } = {}): Promise<PlayedPod> {
  const dir = await tempDir('kube');
  const file = path.join(dir, 'pod.yaml');
  await writeFile(file, yamlText);
  await podman(['pod', 'rm', '-f', '--ignore', podName], { allowFail: true });
  const args = ['kube', 'play'];
  if (opts.seccompRoot) args.push('--seccomp-profile-root', opts.seccompRoot);
  const play = await podman([...args, file], { allowFail: true, timeoutMs: 300_000 });
  return {
    name: podName,
    play,
    remove: async () => {
      await podman(['pod', 'rm', '-f', '--ignore', podName], { allowFail: true });
      // podman 4.3 keeps emptyDir volumes by name after the pod is gone.
      for (const v of opts.volumes ?? []) await podman(['volume', 'rm', '-f', v], { allowFail: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Wait for a container to exit (the server container in the allowed case). */
export async function waitExit(name: string, timeoutMs = 60_000): Promise<number> {
  const r = await podman(['wait', name], { timeoutMs });
  return Number(r.stdout.trim());
}

/**
 * What a pod test needs before its first `kube play`: podman usable, the Node base image, the
 * repo's init image built on it, and a seccomp root laid out as kubelet's
 * (`<root>/modelseal-init.json`, the profile the manifests name).
 */
export async function preparePodImages(): Promise<{ baseImage: string; initImage: string; seccompRoot: string }> {
  const why = await podmanUnavailable();
  if (why) throw new Error(`podman end-to-end suite cannot run: ${why}`);
  const baseImage = await buildNodeBaseImage();
  const initImage = await buildInitImage(baseImage);
  const seccompRoot = await tempDir('seccomp-root');
  await copyFile(path.join(REPO, 'init-container/seccomp.json'), path.join(seccompRoot, 'modelseal-init.json'));
  return { baseImage, initImage, seccompRoot };
}
