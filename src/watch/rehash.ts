import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { opensslName } from '../hashing/algorithms.js';
import { parseShardName } from '../model/names.js';
import type { Receipt } from '../placement/receipt.js';
import type { ByteRateLimiter } from './rate.js';

/**
 * Re-hash placed files against the receipt's signed resources, through the rate cap. Reads
 * each file once, front to back, in chunks of at most `chunkBytes` (memory flat in model size);
 * a `shards` resource is hashed over its byte range, a `files` one over the whole file.
 */
export interface Expected {
  /** Resource name → start/end (end −1: to the end of the file) and signed hex digest. */
  ranges: Array<{ name: string; start: number; end: number; digest: string }>;
  size: number;
}

export function expectedByFile(receipt: Receipt): Map<string, Expected> {
  const s = receipt.model.serialization;
  const out = new Map<string, Expected>();
  const sizes = new Map(receipt.model.files.map((f) => [f.path, f.size]));
  for (const r of receipt.model.resources) {
    const part = s.method === 'shards' ? parseShardName(r.name) : { path: r.name, start: 0, end: -1 };
    let e = out.get(part.path);
    if (!e) out.set(part.path, (e = { ranges: [], size: sizes.get(part.path) ?? -1 }));
    e.ranges.push({ name: r.name, start: part.start, end: part.end, digest: r.digest });
  }
  for (const e of out.values()) e.ranges.sort((a, b) => a.start - b.start);
  return out;
}

export interface FileMismatch {
  file: string;
  resource: string;
  expected: string;
  actual: string;
}

/** The first resource of `rel` whose bytes no longer hash to the signed digest, or undefined. */
export async function rehashFile(dir: string, rel: string, exp: Expected, alg: string, limiter: ByteRateLimiter, chunkBytes: number): Promise<FileMismatch | undefined> {
  const fh = await open(path.join(dir, rel), 'r').catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError(err.code === 'ENOENT' ? 'FILE_MISSING' : 'IO', `${rel}: ${err.code === 'ENOENT' ? 'missing since placement' : err.message}`, { details: { file: rel } });
  });
  try {
    const size = (await fh.stat()).size;
    if (exp.size >= 0 && size !== exp.size) {
      return { file: rel, resource: rel, expected: `${exp.size} bytes`, actual: `${size} bytes` };
    }
    const buf = Buffer.allocUnsafe(chunkBytes);
    for (const r of exp.ranges) {
      const end = r.end < 0 ? size : r.end;
      const h = createHash(opensslName(alg));
      for (let pos = r.start; pos < end; ) {
        const want = Math.min(chunkBytes, end - pos);
        await limiter.take(want);
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      const actual = h.digest('hex');
      if (actual !== r.digest) return { file: rel, resource: r.name, expected: r.digest, actual };
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
