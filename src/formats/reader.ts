import { open, type FileHandle } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';

/**
 * Random access to a file's bytes. Parsers read only the ranges they need, so a multi-GB
 * weights file never lands in memory.
 */
export interface ByteReader {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; fails (FORMAT_INVALID) when the range passes the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface FileByteReader extends ByteReader {
  close(): Promise<void>;
}

export function formatError(format: string, message: string, details: Record<string, unknown> = {}): ModelsealError {
  return new ModelsealError('FORMAT_INVALID', `${format}: ${message}`, { details: { format, ...details } });
}

function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw formatError('file', `read of ${length} bytes at ${offset} passes the end (${size} bytes)`);
  }
}

export function bufferReader(bytes: Uint8Array): ByteReader {
  return {
    size: bytes.length,
    async read(offset, length) {
      checkRange(bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

export async function openFileReader(path: string): Promise<FileByteReader> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw new ModelsealError('IO', `cannot open ${path}`, { cause });
  }
  const size = (await fh.stat()).size;
  return {
    size,
    async read(offset, length) {
      checkRange(size, offset, length);
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        // The file shrank under us: treat as truncated rather than returning garbage.
        if (bytesRead === 0) throw formatError('file', `file shrank while reading at ${offset + done}`);
        done += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

export async function withFileReader<T>(path: string, fn: (r: FileByteReader) => Promise<T>): Promise<T> {
  const r = await openFileReader(path);
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

/**
 * A forward cursor over a reader with a read-ahead window: sequential little-endian decoding of
 * headers (GGUF, protobuf) without one await per byte. `limit` bounds how far it may go.
 */
export class Cursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  pos: number;

  constructor(
    private readonly reader: ByteReader,
    private readonly format: string,
    start = 0,
    readonly limit: number = reader.size,
    private readonly chunk = 1 << 20,
  ) {
    this.pos = start;
  }

  /** Makes the next `n` bytes available synchronously. */
  async need(n: number): Promise<void> {
    if (n < 0 || this.pos + n > this.limit) {
      throw formatError(this.format, `truncated: needs ${n} bytes at offset ${this.pos}, ends at ${this.limit}`);
    }
    const windowEnd = this.windowStart + this.window.length;
    if (this.pos >= this.windowStart && this.pos + n <= windowEnd) return;
    const len = Math.min(Math.max(n, this.chunk), this.limit - this.pos);
    this.window = await this.reader.read(this.pos, len);
    this.windowStart = this.pos;
  }

  private at(n: number): number {
    const i = this.pos - this.windowStart;
    if (i < 0 || i + n > this.window.length) throw new Error('cursor: need() not called');
    this.pos += n;
    return i;
  }

  u8(): number {
    return this.window[this.at(1)]!;
  }
  u16(): number {
    const i = this.at(2);
    return this.window[i]! | (this.window[i + 1]! << 8);
  }
  u32(): number {
    const i = this.at(4);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 4).getUint32(0, true);
  }
  i32(): number {
    const i = this.at(4);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 4).getInt32(0, true);
  }
  u64(): bigint {
    const i = this.at(8);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 8).getBigUint64(0, true);
  }
  i64(): bigint {
    const i = this.at(8);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 8).getBigInt64(0, true);
  }
  f32(): number {
    const i = this.at(4);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 4).getFloat32(0, true);
  }
  f64(): number {
    const i = this.at(8);
    return new DataView(this.window.buffer, this.window.byteOffset + i, 8).getFloat64(0, true);
  }
  bytes(n: number): Uint8Array {
    const i = this.at(n);
    return this.window.subarray(i, i + n);
  }

  /** Skips without reading: used for tensor payloads inside headers we only inventory. */
  skip(n: number): void {
    if (n < 0 || this.pos + n > this.limit) {
      throw formatError(this.format, `truncated: skip of ${n} bytes at offset ${this.pos}, ends at ${this.limit}`);
    }
    this.pos += n;
  }

  /** u64 that must fit a JS safe integer (counts, lengths). */
  u64n(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(this.format, `${what} ${v} is out of range`);
    return Number(v);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, format: string, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw formatError(format, `${what} is not valid UTF-8`);
  }
}

/** A window of another reader: a tar member, an embedded stream. */
export function sliceReader(r: ByteReader, start: number, size: number): ByteReader {
  checkRange(r.size, start, size);
  return {
    size,
    async read(offset, length) {
      checkRange(size, offset, length);
      return r.read(start + offset, length);
    },
  };
}
