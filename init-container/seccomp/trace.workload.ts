import { spawn } from 'node:child_process';
import { realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { publish } from '../../src/app/publish.js';
import { tempDir } from '../../test/harness/process.js';
import { startRegistry, type RegistryServer } from '../../test/harness/registry.js';
import { EXPECTED, startInitWorld, type InitWorld } from '../../test/init/fixtures.js';

/**
 * The workload gen-seccomp.sh traces: the real `modelseal init` (the image's entrypoint, same
 * Node binary and glibc) over every path a pod can take — allowed, each kind of refusal, each
 * kind of failure, plain HTTP and TLS, an IP and a host name, policy and flag trust, pull and
 * verify-in-place. `strace -f -c` writes one syscall table per run to $MODELSEAL_TRACE_OUT.
 */
const OUT = process.env.MODELSEAL_TRACE_OUT ?? '';
const REPO = path.resolve(import.meta.dirname, '../..');
let world: InitWorld;
let tls: RegistryServer;
let node: string;

beforeAll(async () => {
  if (!OUT) throw new Error('run through init-container/gen-seccomp.sh (MODELSEAL_TRACE_OUT is not set)');
  node = await realpath(path.join(REPO, 'node_modules/node/bin/node'));
  world = await startInitWorld();
  tls = await startRegistry({ tls: true });
});

afterAll(async () => {
  await world?.stop();
  await tls?.stop();
});

async function traceInit(name: string, env: Record<string, string>, args: string[] = []): Promise<number> {
  const volume = await tempDir(`trace-${name}`);
  const fullEnv = {
    // What the container has: no CA or proxy variables from this machine.
    PATH: '/usr/bin:/bin',
    NODE_ENV: 'production',
    UV_USE_IO_URING: '0',
    POD_NAME: `trace-${name}`,
    POD_NAMESPACE: 'trace',
    MODELSEAL_INTO: path.join(volume, 'model'),
    MODELSEAL_PUBLIC_KEY: path.join(world.keysDir, 'release.pub'),
    ...env,
  };
  const table = path.join(OUT, `${name}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn('strace', ['-f', '-c', '-o', table, '--', node, path.join(REPO, 'bin/modelseal'), 'init', ...args], {
      env: fullEnv,
      cwd: volume,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (!err.includes('weight_integrity_check')) reject(new Error(`${name}: no decision line\n${err}`));
      else {
        process.stderr.write(`${name}: exit ${code} ${err.trim()}\n`);
        resolve(code ?? -1);
      }
    });
  });
}

const plain = { MODELSEAL_PLAIN_HTTP: 'true' };

it('traces allowed pulls (IP, host name, TLS) and verify-in-place', async () => {
  expect(await traceInit('allowed-ip', { ...plain, MODELSEAL_SOURCE: world.refs.good })).toBe(0);
  const byName = world.refs.good.replace('127.0.0.1', 'localhost');
  expect(await traceInit('allowed-hostname', { ...plain, MODELSEAL_SOURCE: byName })).toBe(0);

  const { dir, manifest, bundleJson } = world.good;
  await publish({ dir, dest: `oci://${tls.host}/models/tiny:v1`, manifest, bundleJson, oci: { caFile: tls.caFile!, env: {} } });
  expect(await traceInit('allowed-tls', { MODELSEAL_SOURCE: `oci://${tls.host}/models/tiny:v1`, MODELSEAL_CA_FILE: tls.caFile! })).toBe(0);

  const receipts = await tempDir('trace-receipts');
  expect(
    await traceInit('verify-in-place', { MODELSEAL_SOURCE: dir, MODELSEAL_MODE: 'verify-in-place', MODELSEAL_RECEIPT: path.join(receipts, 'r.json') }),
  ).toBe(0);
});

it('traces policy and config-file trust', async () => {
  const conf = await tempDir('trace-conf');
  await writeFile(
    path.join(conf, 'policy.yaml'),
    `apiVersion: modelseal/v1\nauthorities:\n  release:\n    key: { publicKey: ${path.join(world.keysDir, 'release.pub')} }\nmodels:\n  - match: "oci://**"\n    authorities: [release]\n`,
  );
  await writeFile(path.join(conf, 'config.yaml'), `source: ${world.refs.good}\nplainHttp: true\npolicy: ${path.join(conf, 'policy.yaml')}\n`);
  expect(await traceInit('policy-config', { MODELSEAL_PUBLIC_KEY: '' }, ['--config', path.join(conf, 'config.yaml')])).toBe(0);
});

it('traces every refusal and failure', async () => {
  for (const name of ['tampered', 'wrongSigner', 'unsigned', 'unreachable'] as const) {
    expect(await traceInit(name, { ...plain, MODELSEAL_SOURCE: world.refs[name] })).toBe(EXPECTED[name].exit);
  }
  expect(await traceInit('bad-config', { MODELSEAL_SOURCE: world.refs.good, MODELSEAL_MODE: 'sideways' })).toBe(2);
});
