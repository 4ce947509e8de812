import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../harness/process.js';

/** A small model directory made in the test: name → content. */
export async function makeModel(files: Record<string, string | Buffer>, name = 'model'): Promise<string> {
  const root = path.join(await tempDir('model'), name);
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
  }
  return root;
}

export const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

/** Repeatable pseudo-random bytes (so tests can rebuild the same model). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
