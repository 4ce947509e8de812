import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import { formatError, openFileReader, type ByteReader, type FileByteReader } from './reader.js';

/**
 * Compressed single streams: joblib (`compress=`), `pandas.read_pickle('x.pkl.gz')` and
 * `.tar.gz` models hold pickles the loader decompresses first. Node can undo gzip, zlib and zstd;
 * the others are named so the scan can say it could not look inside.
 */

export type Compression = 'gzip' | 'zlib' | 'zstd' | 'bz2' | 'xz' | 'lz4' | 'lzma';

/** Sniffs the compression from the first bytes (joblib's own prefixes included). */
export function sniffCompression(head: Uint8Array, name: string): Compression | undefined {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68 && b(3) >= 0x31 && b(3) <= 0x39) return 'bz2';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0) return 'xz';
  if (b(0) === 0x04 && b(1) === 0x22 && b(2) === 0x4d && b(3) === 0x18) return 'lz4';
  // zlib (joblib's default compressor): CM 8 with the four FLG bytes zlib's levels write (RFC 1950 §2.2).
  if (b(0) === 0x78 && [0x01, 0x5e, 0x9c, 0xda].includes(b(1))) return 'zlib';
  // lzma-alone has no magic: joblib writes "]\0\0"; only trusted with a name that says so.
  if (b(0) === 0x5d && b(1) === 0 && b(2) === 0 && /\.(lzma|joblib|pkl|pickle)$/i.test(name)) return 'lzma';
  return undefined;
}

export function canDecompress(c: Compression): boolean {
  return c === 'gzip' || c === 'zlib' || c === 'zstd';
}

function readerStream(r: ByteReader): Readable {
  let pos = 0;
  return new Readable({
    async read() {
      try {
        if (pos >= r.size) return void this.push(null);
        const n = Math.min(1 << 20, r.size - pos);
        const chunk = await r.read(pos, n);
        pos += n;
        this.push(chunk);
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
}

/**
 * Decompresses into a private temp file (memory stays flat; a zip bomb stops at `maxBytes`) and
 * hands a reader over it to `fn`; the file is removed afterwards.
 */
export async function withDecompressed<T>(r: ByteReader, c: Compression, maxBytes: number, fn: (d: FileByteReader) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelseal-scan-'));
  try {
    const file = path.join(dir, 'stream');
    let total = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        if (total > maxBytes) cb(formatError(c, `decompresses to more than ${maxBytes} bytes`));
        else cb(null, chunk);
      },
    });
    const codec = c === 'gzip' ? createGunzip() : c === 'zlib' ? createInflate() : createZstdDecompress();
    try {
      await pipeline(readerStream(r), codec, cap, createWriteStream(file, { mode: 0o600 }));
    } catch (err) {
      if ((err as { code?: string }).code === 'FORMAT_INVALID') throw err;
      throw formatError(c, `stream does not decompress (${(err as Error).message})`);
    }
    const d = await openFileReader(file);
    try {
      return await fn(d);
    } finally {
      await d.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
