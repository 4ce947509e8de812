import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { randomFillSync } from 'node:crypto';
import { MiB } from './measure.js';

/**
 * A safetensors header for one U8 tensor filling the rest of a `size`-byte file, so the model
 * passes the pull-time model-file scan as a real checkpoint would.
 */
export function safetensorsHeader(size: number): Buffer {
  for (let pad = 0; pad < 8; pad++) {
    // The tensor length appears in the header, so settle it by fixed-point iteration.
    let n = size - 8 - headerJson(0, pad).length;
    for (let i = 0; i < 4; i++) n = size - 8 - headerJson(n, pad).length;
    const json = headerJson(n, pad);
    if (8 + json.length + n === size && json.length % 8 === 0) {
      const out = Buffer.alloc(8 + json.length);
      out.writeBigUInt64LE(BigInt(json.length), 0);
      json.copy(out, 8);
      return out;
    }
  }
  throw new Error(`cannot lay out a safetensors header for ${size} bytes`);
}

function headerJson(n: number, pad: number): Buffer {
  const body = JSON.stringify({ __metadata__: { format: 'pt' }, weight: { dtype: 'U8', shape: [n], data_offsets: [0, n] } });
  const text = body + ' '.repeat(pad);
  return Buffer.from(text);
}

async function hasHeader(file: string, header: Buffer): Promise<boolean> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(header.length);
    await fh.read(b, 0, b.length, 0);
    return b.equals(header);
  } finally {
    await fh.close();
  }
}

/** Write `size` bytes (random after an optional header), 8 MiB at a time (flat memory), unless already there. */
export async function ensureFile(file: string, size: number, header?: Buffer): Promise<void> {
  const st = await stat(file).catch(() => undefined);
  if (st?.size === size && (!header || (await hasHeader(file, header)))) return;
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(file);
  if (header) out.write(header);
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (let left = size - (header?.length ?? 0); left > 0; ) {
    const n = Math.min(left, buf.length);
    randomFillSync(buf, 0, n);
    if (!out.write(n === buf.length ? Buffer.from(buf) : buf.subarray(0, n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
}

/** A multi-file model shaped like a real checkpoint: shards of weights plus small config files. */
export async function ensureMultiFileModel(dir: string, totalBytes: number, shards: number): Promise<string[]> {
  const files: string[] = [];
  const per = Math.floor(totalBytes / shards);
  for (let i = 0; i < shards; i++) {
    const f = path.join(dir, `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`);
    await ensureFile(f, per, safetensorsHeader(per));
    files.push(f);
  }
  // Small files are valid JSON, as in a real checkpoint (the pull-time scan parses config.json).
  for (const [name, size] of [['config.json', 4096], ['tokenizer.json', 2 * MiB]] as const) {
    const f = path.join(dir, name);
    const prefix = '{"model_type":"bench","padding":"';
    const text = prefix + 'x'.repeat(size - prefix.length - 2) + '"}';
    const st = await stat(f).catch(() => undefined);
    if (st?.size !== size) await writeFile(f, text);
    files.push(f);
  }
  return files;
}
