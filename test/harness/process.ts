import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1 (bind :0, read, close). Callers retry on EADDRINUSE. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `modelseal-${prefix}-`));
}

/** The environment servers run in: the machine presets CA variables that break some servers (test-servers.md §6). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['AWS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE']) delete env[k];
  return { ...env, ...extra };
}

export interface ServerProcess {
  pid: number;
  child: ChildProcess;
  /** Last output lines, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Start a server process we own; stop() kills it by PID (never by name). */
export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): ServerProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(), ...opts });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  return {
    pid,
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          clearTimeout(timer);
          resolve();
        }
      }),
  };
}

/** Poll `probe` until it resolves true, or fail with the server's last output. */
export async function waitFor(probe: () => Promise<boolean>, what: string, proc?: ServerProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) break;
    try {
      if (await probe()) return;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} did not become ready: ${String(lastErr ?? '')}\n${proc?.output() ?? ''}`);
}
