import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { best, fmtRate, GiB, MiB, opensslOneCore, timed, type Run } from './measure.js';
import { ensureFile, ensureMultiFileModel } from './model.js';

export interface BenchContext {
  root: string;
  cli: string[];
  env: NodeJS.ProcessEnv;
  keyPrefix: string;
  rows: string[][];
  cores: number;
  oneCore: number;
}

export function ms(ctx: BenchContext, args: string[]): Promise<Run> {
  return timed(ctx.cli[0]!, [...ctx.cli.slice(1), ...args], ctx.env);
}

/** Read every file once so all timed runs start from the page cache (we measure hashing, not the disk). */
export function warm(files: string[]): void {
  execFileSync('cat', files, { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 });
}

export async function benchLocal(ctx: BenchContext, multiDir: string, multiFiles: string[], totalBytes: number): Promise<Run> {
  const { rows, cores, oneCore } = ctx;
  await ms(ctx, ['sign', 'key', multiDir, '--private-key', `${ctx.keyPrefix}.key`]);
  warm(multiFiles);
  const shaSum = await best(2, () => timed('sha256sum', multiFiles));
  const verify = await best(3, () => ms(ctx, ['verify', 'key', multiDir, '--public-key', `${ctx.keyPrefix}.pub`]));
  const ceiling = await best(2, () => parallelOpensslDgst(multiFiles, cores));
  const cTool = ceilingTool(ctx.root);
  const cMulti = cTool ? await best(2, () => parallelC(cTool, multiFiles.map((f) => [f, 0, statSync(f).size]), cores)) : undefined;
  const rate = totalBytes / verify.seconds;
  rows.push(
    ['local verify, multi-file', `${(totalBytes / GiB).toFixed(2)} GiB, ${multiFiles.length} files`, `${verify.seconds.toFixed(2)} s`, fmtRate(totalBytes, verify.seconds), `${(verify.maxRssKiB / 1024).toFixed(0)} MiB`],
    ['  vs sha256sum (same files)', '', `${shaSum.seconds.toFixed(2)} s`, fmtRate(totalBytes, shaSum.seconds), `${(shaSum.seconds / verify.seconds).toFixed(2)}x faster`],
    ['  vs cores x one-core openssl', `${cores} x ${fmtRate(oneCore, 1)}`, '', fmtRate(cores * oneCore, 1), `ratio ${(rate / (cores * oneCore)).toFixed(2)} (target >= 0.85)`],
    // What OpenSSL itself reaches on these files (page cache → read → SHA-256) on every core:
    // the ceiling any reader of files meets here, against the in-cache `openssl speed` figure.
    ['  ceiling: openssl dgst, files split over cores', `${cores} processes`, `${ceiling.seconds.toFixed(2)} s`, fmtRate(totalBytes, ceiling.seconds), `ratio ${(totalBytes / ceiling.seconds / (cores * oneCore)).toFixed(2)}; modelseal at ${(ceiling.seconds / verify.seconds).toFixed(2)}x its speed`],
    ...ceilingRow(cMulti, totalBytes, cores * oneCore, verify),
  );

  // One 2 GiB file in shard mode: only parallel shard hashing can beat one core.
  const singleDir = path.join(ctx.root, 'single');
  const single = path.join(singleDir, 'model.safetensors');
  const singleBytes = 2 * GiB;
  await ensureFile(single, singleBytes);
  const shardArgs = ['--serialization', 'shards', '--shard-size', String(128 * MiB)];
  await ms(ctx, ['sign', 'key', singleDir, '--private-key', `${ctx.keyPrefix}.key`, ...shardArgs]);
  warm([single]);
  const shaOne = await best(2, () => timed('sha256sum', [single]));
  const vShard = await best(3, () => ms(ctx, ['verify', 'key', singleDir, '--public-key', `${ctx.keyPrefix}.pub`]));
  const shardRate = singleBytes / vShard.seconds;
  const half = Math.ceil(singleBytes / cores);
  const cSingle = cTool
    ? await best(2, () => parallelC(cTool, Array.from({ length: cores }, (_, i): [string, number, number] => [single, i * half, Math.min(half, singleBytes - i * half)]), cores))
    : undefined;
  rows.push(
    ['local verify, one file, shards', `2.00 GiB, 16 x 128 MiB shards`, `${vShard.seconds.toFixed(2)} s`, fmtRate(singleBytes, vShard.seconds), `${(vShard.maxRssKiB / 1024).toFixed(0)} MiB`],
    ['  vs sha256sum (same file)', '', `${shaOne.seconds.toFixed(2)} s`, fmtRate(singleBytes, shaOne.seconds), `${(shaOne.seconds / vShard.seconds).toFixed(2)}x faster`],
    ['  vs one-core openssl', fmtRate(oneCore, 1), '', '', `ratio ${(shardRate / oneCore).toFixed(2)} (target >= 1.8)`],
    ...ceilingRow(cSingle, singleBytes, oneCore, vShard),
  );
  return verify;
}

/** The C ceiling's row: its time and rate, its ratio to the target's denominator, and ours to it. */
function ceilingRow(c: Run | undefined, bytes: number, denominator: number, ours: Run): string[][] {
  if (!c) return [['  ceiling: C + OpenSSL read() per core', 'skipped: no gcc or OpenSSL headers', '', '', '']];
  return [
    ['  ceiling: C + OpenSSL read() per core', 'bench/sha256-range.c', `${c.seconds.toFixed(2)} s`, fmtRate(bytes, c.seconds), `ratio ${(bytes / c.seconds / denominator).toFixed(2)}; modelseal at ${(c.seconds / ours.seconds).toFixed(2)}x its speed (target >= 0.95)`],
  ];
}

/** Split weighted jobs into `n` groups of about equal weight (largest first, to the lightest group). */
function balance<T>(jobs: Array<{ job: T; weight: number }>, n: number): T[][] {
  const groups = Array.from({ length: n }, () => ({ weight: 0, jobs: [] as T[] }));
  for (const j of [...jobs].sort((a, b) => b.weight - a.weight)) {
    const g = groups.reduce((a, b) => (b.weight < a.weight ? b : a));
    g.jobs.push(j.job);
    g.weight += j.weight;
  }
  return groups.filter((g) => g.jobs.length).map((g) => g.jobs);
}

/** One shell line per group, all groups at once, timed as a whole. */
function runGroups(groups: string[][]): Promise<Run> {
  return timed('sh', ['-c', `${groups.map((g) => `(${g.join('; ')}) >/dev/null &`).join(' ')} wait`]);
}

/** `openssl dgst -sha256` over the files split by size into one group per core. */
function parallelOpensslDgst(files: string[], cores: number): Promise<Run> {
  const groups = balance(files.map((f) => ({ job: f, weight: statSync(f).size })), cores);
  return runGroups(groups.map((g) => [`openssl dgst -sha256 ${g.map((f) => `'${f}'`).join(' ')}`]));
}

/** bench/sha256-range.c built into the bench directory, or undefined without a C compiler and OpenSSL headers. */
export function ceilingTool(root: string): string | undefined {
  const bin = path.join(root, 'sha256-range');
  if (existsSync(bin)) return bin;
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bench/sha256-range.c');
  try {
    execFileSync('gcc', ['-O2', '-o', bin, src, '-lcrypto'], { stdio: 'ignore' });
    return bin;
  } catch {
    return undefined;
  }
}

/** The C ceiling over byte ranges [file, start, length], spread over the cores. */
function parallelC(bin: string, ranges: Array<[string, number, number]>, cores: number): Promise<Run> {
  const groups = balance(ranges.map((r) => ({ job: `'${bin}' '${r[0]}' ${r[1]} ${r[2]}`, weight: r[2] })), cores);
  return runGroups(groups);
}

export interface Prepared {
  multiDir: string;
  multiFiles: string[];
  totalBytes: number;
}

export async function prepare(root: string): Promise<Prepared> {
  const multiDir = path.join(root, 'multi');
  const multiFiles = await ensureMultiFileModel(multiDir, 2 * GiB, 8);
  const totalBytes = multiFiles.reduce((n, f) => n + statSync(f).size, 0);
  return { multiDir, multiFiles, totalBytes };
}

export async function baseContext(root: string, cli: string[], env: NodeJS.ProcessEnv): Promise<BenchContext> {
  return { root, cli, env, keyPrefix: path.join(root, 'bench'), rows: [], cores: os.availableParallelism(), oneCore: await opensslOneCore() };
}
