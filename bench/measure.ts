import { spawn } from 'node:child_process';

export interface Run {
  seconds: number;
  /** Peak resident set size of the command, KiB (GNU time %M). */
  maxRssKiB: number;
  /** User + system CPU seconds of the command and its children (GNU time %U + %S). */
  cpuSeconds: number;
  stdout: string;
}

/** Run a command under GNU time: wall seconds and peak RSS, measured by the kernel, not by us. */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '@@time %e %M %U %S', cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err = (err + b).slice(-20000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /@@time ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.slice(-2000)}`));
      resolve({ seconds: Number(m[1]), maxRssKiB: Number(m[2]), cpuSeconds: Number(m[3]) + Number(m[4]), stdout: out });
    });
  });
}

/** Best of n runs (the least disturbed by the rest of the machine). */
export async function best(n: number, f: () => Promise<Run>): Promise<Run> {
  let b: Run | undefined;
  for (let i = 0; i < n; i++) {
    const r = await f();
    if (!b || r.seconds < b.seconds) b = { ...r, maxRssKiB: Math.max(r.maxRssKiB, b?.maxRssKiB ?? 0) };
  }
  return b!;
}

/** One core of OpenSSL SHA-256 on 16 KiB blocks, bytes per second. */
export async function opensslOneCore(seconds = 3): Promise<number> {
  const r = await timed('openssl', ['speed', '-seconds', String(seconds), '-bytes', '16384', 'sha256']);
  // "sha256   123456.78k" : the last column is in thousands of bytes per second.
  const line = r.stdout.split('\n').find((l) => /^sha256\s/.test(l));
  const m = line && /([\d.]+)k\s*$/.exec(line.trim());
  if (!m) throw new Error(`cannot parse openssl speed output: ${r.stdout}`);
  return Number(m[1]) * 1000;
}

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
export const fmtRate = (bytes: number, s: number) => `${(bytes / s / MiB).toFixed(0)} MiB/s`;
/** CPU-seconds per GiB moved: what a pull costs the node beside the wall time. */
export const fmtCpu = (r: Run, bytes: number) => `${(r.cpuSeconds / (bytes / GiB)).toFixed(2)} CPU-s/GiB`;

/** Two runs' sums (a download then a hash), as one Run. */
export function sumRuns(a: Run, b: Run): Run {
  return { seconds: a.seconds + b.seconds, maxRssKiB: Math.max(a.maxRssKiB, b.maxRssKiB), cpuSeconds: a.cpuSeconds + b.cpuSeconds, stdout: '' };
}

/** The three rows every pull benchmark prints: itself, against local verify, against its baseline tool. */
export function pullRows(label: string, bytes: number, pull: Run, local: Run, baseline: Run, baselineName: string, localTarget: number): string[][] {
  return [
    [label, `${(bytes / GiB).toFixed(2)} GiB`, `${pull.seconds.toFixed(2)} s`, fmtRate(bytes, pull.seconds), `${(pull.maxRssKiB / 1024).toFixed(0)} MiB`],
    ['  vs local verify', '', `${local.seconds.toFixed(2)} s`, '', `ratio ${(pull.seconds / local.seconds).toFixed(2)} (target <= ${localTarget})`],
    [`  vs ${baselineName}`, '', `${baseline.seconds.toFixed(2)} s`, fmtRate(bytes, baseline.seconds), `${(baseline.seconds / pull.seconds).toFixed(2)}x faster (target >= 2)`],
  ];
}
