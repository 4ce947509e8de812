import path from 'node:path';
import { opensslName } from '../hashing/algorithms.js';
import { hashAll, type HashPool, type HashTask } from '../hashing/pool.js';
import type { HashAlgorithm, Manifest, Resource, SerializationMethod } from './types.js';
import { shardName, sortForSigning } from './names.js';
import { listModelFiles, type ModelFile } from './walk.js';

export const DEFAULT_SHARD_SIZE = 1_000_000_000;

export interface SerializeOptions {
  method: SerializationMethod;
  hashType: HashAlgorithm;
  shardSize?: number;
  allowSymlinks: boolean;
  /** Model-relative paths excluded from hashing (and recorded in the predicate). */
  ignorePaths: string[];
  pool?: HashPool;
}

/** Plan hash tasks: one per file, or one per shard (empty files yield no shard, trap T4). */
export function planTasks(files: ModelFile[], method: SerializationMethod, hashType: HashAlgorithm, shardSize: number) {
  const alg = opensslName(hashType);
  const tasks: Array<{ name: string; task: HashTask }> = [];
  for (const f of files) {
    if (method === 'files') {
      tasks.push({ name: f.rel, task: { path: f.abs, algorithm: alg, start: 0, end: -1 } });
      continue;
    }
    for (let start = 0; start < f.size; start += shardSize) {
      const end = Math.min(start + shardSize, f.size);
      tasks.push({ name: shardName(f.rel, start, end), task: { path: f.abs, algorithm: alg, start, end } });
    }
  }
  return tasks;
}

/** Hash the model into resources (unsorted beyond file order). */
export async function hashModelFiles(
  files: ModelFile[],
  method: SerializationMethod,
  hashType: HashAlgorithm,
  shardSize: number,
  pool?: HashPool,
): Promise<Resource[]> {
  const planned = planTasks(files, method, hashType, shardSize);
  const results = await hashAll(planned.map((p) => p.task), pool);
  return planned.map((p, i) => ({ name: p.name, algorithm: hashType, digest: results[i]!.digest }));
}

/** Serialize a model directory (or single file) into an OMS manifest in signing (code-point) order. */
export async function serializeDirectory(dir: string, opts: SerializeOptions): Promise<Manifest> {
  const shardSize = opts.shardSize ?? DEFAULT_SHARD_SIZE;
  const files = await listModelFiles(dir, { allowSymlinks: opts.allowSymlinks, ignorePaths: opts.ignorePaths });
  const resources = await hashModelFiles(files, opts.method, opts.hashType, shardSize, opts.pool);
  return {
    modelName: path.basename(path.resolve(dir)),
    serialization: {
      method: opts.method,
      hashType: opts.hashType,
      allowSymlinks: opts.allowSymlinks,
      ...(opts.method === 'shards' ? { shardSize } : {}),
      ignorePaths: [...opts.ignorePaths],
    },
    resources: sortForSigning(resources),
  };
}

/** A file's range digests named as the serializer names them (empty files have no shard, trap T4). */
export function resourcesOf(rel: string, method: SerializationMethod, hashType: HashAlgorithm, ranges: ReadonlyArray<{ start: number; end: number; digest: string }>): Resource[] {
  if (method === 'files') return [{ name: rel, algorithm: hashType, digest: ranges[0]!.digest }];
  return ranges.filter((r) => r.end > r.start).map((r) => ({ name: shardName(rel, r.start, r.end), algorithm: hashType, digest: r.digest }));
}
