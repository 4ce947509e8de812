import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../helpers/cli.js';

/**
 * The built CLI as a child we can signal (SIGTERM, SIGKILL) mid-run. Resolves with the exit code
 * (or the killing signal), stdout, stderr and the JSON lines of stderr.
 */
export interface Running {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; logs: Array<Record<string, unknown>> }>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, inherit = true): Running {
  const child = spawn(process.execPath, [path.join(REPO, 'bin/modelseal'), ...args], {
    cwd: REPO,
    env: inherit ? { ...process.env, MODELSEAL_LOG_LEVEL: 'info', ...env } : env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  const done = new Promise<Awaited<Running['done']>>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const logs = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
      resolve({ code, signal, stdout, stderr, logs });
    });
  });
  return { child, done };
}

/** Environment for `modelseal init` (no other MODELSEAL_* settings leak in from the test runner); pass with inherit=false. */
export function initEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MODELSEAL_')) env[k] = v;
  return { ...env, MODELSEAL_LOG_LEVEL: 'info', ...settings };
}

/** Wait until `probe` holds (bounded: at most `ms`). */
export async function until(probe: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
