import type { Command } from 'commander';
import { ModelsealError } from '../errors.js';
import { NodeCache } from '../cache/node-cache.js';

export interface CacheFlags {
  cache?: string;
  cacheMaxSize?: string;
  cachePlace?: string;
}

export function addCacheFlags(cmd: Command): Command {
  return cmd
    .option('--cache <dir>', 'node-level cache of verified files (e.g. a hostPath): files already there are re-hashed and placed, only the rest is fetched')
    .option('--cache-max-size <GiB>', 'evict least recently used cache entries beyond this size (default: no cap)')
    .option('--cache-place <mode>', 'link (hard link, default; copy across filesystems) or copy (reflink where possible)');
}

/** The cache the flags ask for, or undefined. */
export async function cacheFromFlags(f: CacheFlags): Promise<NodeCache | undefined> {
  if (!f.cache) {
    if (f.cacheMaxSize !== undefined || f.cachePlace !== undefined) throw new ModelsealError('USAGE', '--cache-max-size and --cache-place need --cache');
    return undefined;
  }
  let maxBytes: number | undefined;
  if (f.cacheMaxSize !== undefined) {
    const gib = Number(f.cacheMaxSize);
    if (!/^\d+(\.\d+)?$/.test(f.cacheMaxSize) || !(gib > 0)) throw new ModelsealError('USAGE', '--cache-max-size takes a positive number of GiB');
    maxBytes = Math.floor(gib * 1024 ** 3);
  }
  const place = f.cachePlace ?? 'link';
  if (place !== 'link' && place !== 'copy') throw new ModelsealError('USAGE', '--cache-place must be link or copy');
  return NodeCache.open({ dir: f.cache, place, ...(maxBytes !== undefined ? { maxBytes } : {}) });
}
