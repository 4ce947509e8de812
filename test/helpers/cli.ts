import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(REPO, 'test/fixtures');
export const GOLDEN = path.join(FIXTURES, 'oms-golden');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed JSON log lines from stderr. */
  logs: Array<Record<string, unknown>>;
}

/** Run the built CLI (npm test builds first) exactly as a user would. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/modelseal'), ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, MODELSEAL_LOG_LEVEL: 'info', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => {
      const logs = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        });
      resolve({ code: code ?? -1, stdout, stderr, logs });
    });
  });
}
