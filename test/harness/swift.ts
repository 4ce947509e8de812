import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startProcess, tempDir, waitFor, type ServerProcess } from './process.js';

/**
 * OpenStack Swift with s3api on loopback (test-servers.md §3): account, container, object and
 * proxy servers, four processes under Debian's /usr/bin/python3 (the pyenv shim on PATH lacks
 * Debian's swift modules). SigV4 is enforced, so this is the server for wrong-credential tests.
 */

const PY = '/usr/bin/python3';
const RING = 'import sys; from swift.cli.ringbuilder import main; main(["swift-ring-builder"]+sys.argv[1:])';
const RUN =
  'import sys; from swift.common import utils; utils.set_swift_dir(sys.argv[1]); ' +
  'from swift.common.wsgi import run_wsgi; run_wsgi(sys.argv[2], sys.argv[3], verbose=True)';
const run = promisify(execFile);

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface SwiftServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A valid user without access to the admin's buckets. */
  reader: { accessKeyId: string; secretAccessKey: string };
  pids: number[];
  stop(): Promise<void>;
}

export async function startSwift(opts: { workers?: number } = {}): Promise<SwiftServer> {
  const workers = opts.workers ?? 0;
  // Forked workers switch to `user` (default swift): keep them the user running the tests.
  const user = workers > 0 ? `user = ${userInfo().username}\n` : '';
  const dir = await tempDir('swift');
  const etc = path.join(dir, 'etc');
  await mkdir(etc, { recursive: true });
  await mkdir(path.join(dir, 'node', 'd1'), { recursive: true });
  const [pa, pc, po, pp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await writeFile(
    path.join(etc, 'swift.conf'),
    '[swift-hash]\nswift_hash_path_suffix = test-suffix\nswift_hash_path_prefix = test-prefix\n' +
      '[storage-policy:0]\nname = Policy-0\ndefault = yes\n',
  );
  for (const [type, port] of [['account', pa], ['container', pc], ['object', po]] as const) {
    const rb = (...args: string[]) => run(PY, ['-c', RING, ...args], { cwd: etc });
    await rb(`${type}.builder`, 'create', '0', '1', '1');
    await rb(`${type}.builder`, 'add', `r1z1-127.0.0.1:${port}/d1`, '1');
    await rb(`${type}.builder`, 'rebalance');
    await writeFile(
      path.join(etc, `${type}-server.conf`),
      `[DEFAULT]\ndevices = ${path.join(dir, 'node')}\nmount_check = false\nswift_dir = ${etc}\n` +
        `bind_ip = 127.0.0.1\nbind_port = ${port}\nworkers = ${type === 'object' ? workers : 0}\n${user}` +
        `[pipeline:main]\npipeline = ${type}-server\n[app:${type}-server]\nuse = egg:swift#${type}\n`,
    );
  }
  await writeFile(
    path.join(etc, 'proxy-server.conf'),
    `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${pp}\nswift_dir = ${etc}\nworkers = ${workers}\n${user}` +
      '[pipeline:main]\npipeline = catch_errors proxy-logging cache s3api tempauth slo proxy-logging proxy-server\n' +
      // Generous backend timeouts: the defaults (0.5 s connect) turn a busy 2-core CI box into 503s.
      '[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\nconn_timeout = 5\nnode_timeout = 60\n' +
      '[filter:s3api]\nuse = egg:swift#s3api\nlocation = us-east-1\n' +
      // test:reader is a non-admin user of the same account: signs correctly, may not read (AccessDenied).
      '[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\nuser_test_reader = reading\n' +
      '[filter:cache]\nuse = egg:swift#memcache\n' +
      '[filter:catch_errors]\nuse = egg:swift#catch_errors\n' +
      '[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n' +
      '[filter:slo]\nuse = egg:swift#slo\n',
  );

  const procs: ServerProcess[] = [];
  const stopAll = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const type of ['account', 'container', 'object', 'proxy']) {
      procs.push(startProcess(PY, ['-c', RUN, etc, path.join(etc, `${type}-server.conf`), `${type}-server`], { cwd: dir }));
    }
    const server: SwiftServer = {
      endpoint: `http://127.0.0.1:${pp}`,
      region: 'us-east-1',
      accessKeyId: 'test:tester',
      secretAccessKey: 'testing',
      reader: { accessKeyId: 'test:reader', secretAccessKey: 'reading' },
      pids: procs.map((p) => p.pid),
      stop: stopAll,
    };
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      maxAttempts: 1,
    });
    try {
      await waitFor(async () => {
        for (const p of procs) if (p.child.exitCode !== null) throw new Error(`swift exited: ${p.output()}`);
        // The proxy answers ListBuckets as soon as the account server does; a bucket PUT also
        // needs the container server (else 503 SlowDown), and objects the object server.
        for (const port of [pa, pc, po]) if (!(await listening(port))) return false;
        await client.send(new ListBucketsCommand({}));
        return true;
      }, 'swift s3api', procs[3], 60_000);
    } finally {
      client.destroy();
    }
    return server;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
