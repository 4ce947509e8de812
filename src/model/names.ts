import { ModelsealError } from '../errors.js';
import type { Resource, ShardName } from './types.js';

export function shardName(path: string, start: number, end: number): string {
  return `${path}:${start}:${end}`;
}

/** Parse by the last two `:` fields (spec §6.3.2): file names may themselves contain `:`. */
export function parseShardName(name: string): ShardName {
  const m = /^(.*):(0|[1-9][0-9]*):(0|[1-9][0-9]*)$/.exec(name);
  if (!m) throw new ModelsealError('PAYLOAD_INVALID', `shard resource name ${JSON.stringify(name)} is not <path>:<start>:<end>`);
  const start = Number(m[2]);
  const end = Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) {
    throw new ModelsealError('PAYLOAD_INVALID', `shard resource ${JSON.stringify(name)} has an empty or inverted range`);
  }
  return { path: m[1]!, start, end };
}

/** Spec order for signing (§5.2.1, Go): plain code-point order of the names. */
export function sortForSigning(resources: Resource[]): Resource[] {
  return [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * True when `rel` is an ignore path or lies under one. Both are model-relative POSIX paths;
 * a trailing `/` on an ignore path is allowed (Python writes `.git/`).
 */
export function isIgnored(rel: string, ignorePaths: readonly string[]): boolean {
  for (const raw of ignorePaths) {
    const p = raw.replace(/\/+$/, '');
    if (p === '' || p === '.') continue;
    if (rel === p || rel.startsWith(`${p}/`)) return true;
  }
  return false;
}

/** Git paths the reference tool ignores by default (top level only); spec §6.2 and Go add .gitmodules. */
export const GIT_IGNORE_PATHS = ['.git', '.gitattributes', '.github', '.gitignore', '.gitmodules'] as const;

/** Validate a model-relative path from hostile input (bundle, registry, bucket). */
export function assertSafeRelativePath(p: string, what: string): void {
  const bad =
    p === '' ||
    p.startsWith('/') ||
    p.includes('\\') ||
    p.includes('\0') ||
    /^[A-Za-z]:/.test(p) ||
    p.split('/').some((seg) => seg === '..' || seg === '' || seg === '.');
  if (bad) throw new ModelsealError('PATH_UNSAFE', `${what} has an unsafe path ${JSON.stringify(p)}`);
}
