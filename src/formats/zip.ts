import { inflateRawSync, constants as zc } from 'node:zlib';
import { decodeUtf8, formatError, type ByteReader } from './reader.js';

/**
 * A central-directory zip reader as lenient as PyTorch's miniz (CRCs and flag bits are ignored,
 * GHSA-w8jq / GHSA-7q5r: scanners that choked on them let torch load what they never saw), but
 * strict about every offset and size.
 */

const F = 'zip';
const MAX_ENTRIES = 1_000_000;
const MAX_CD_BYTES = 256 << 20;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

export async function readZipDirectory(r: ByteReader): Promise<ZipEntry[]> {
  if (r.size < 22) throw formatError(F, 'too short for an end-of-central-directory record');
  const tailLen = Math.min(r.size, 22 + 65535);
  const tail = await r.read(r.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 5 && tail[i + 3] === 6) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw formatError(F, 'no end-of-central-directory record');
  const e = dv(tail.subarray(eocd));
  let count = e.getUint16(10, true);
  let cdSize = e.getUint32(12, true);
  let cdOffset = e.getUint32(16, true);
  const eocdAbs = r.size - tailLen + eocd;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (eocdAbs < 20) throw formatError(F, 'zip64 locator missing');
    const loc = dv(await r.read(eocdAbs - 20, 20));
    if (loc.getUint32(0, true) !== 0x07064b50) throw formatError(F, 'zip64 locator missing');
    const recOff = Number(loc.getBigUint64(8, true));
    if (!Number.isSafeInteger(recOff) || recOff + 56 > r.size) throw formatError(F, 'zip64 record out of range');
    const rec = dv(await r.read(recOff, 56));
    if (rec.getUint32(0, true) !== 0x06064b50) throw formatError(F, 'bad zip64 end-of-central-directory record');
    count = Number(rec.getBigUint64(32, true));
    cdSize = Number(rec.getBigUint64(40, true));
    cdOffset = Number(rec.getBigUint64(48, true));
  }
  if (count > MAX_ENTRIES) throw formatError(F, `${count} entries exceed ${MAX_ENTRIES}`);
  if (cdSize > MAX_CD_BYTES || !Number.isSafeInteger(cdOffset) || cdOffset + cdSize > r.size) {
    throw formatError(F, `central directory (${cdSize} bytes at ${cdOffset}) is out of range`);
  }
  const cd = await r.read(cdOffset, cdSize);
  const d = dv(cd);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || d.getUint32(p, true) !== 0x02014b50) throw formatError(F, `central directory entry ${i} is malformed`);
    const method = d.getUint16(p + 10, true);
    let compressedSize = d.getUint32(p + 20, true);
    let uncompressedSize = d.getUint32(p + 24, true);
    const nameLen = d.getUint16(p + 28, true);
    const extraLen = d.getUint16(p + 30, true);
    const commentLen = d.getUint16(p + 32, true);
    let localHeaderOffset = d.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw formatError(F, `central directory entry ${i} overruns the directory`);
    const name = decodeUtf8(cd.subarray(p + 46, p + 46 + nameLen), F, 'entry name');
    // Zip64 extra field: 64-bit values appear only for the fields that were saturated, in order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = d.getUint16(x, true);
      const size = d.getUint16(x + 2, true);
      if (x + 4 + size > xEnd) break;
      if (id === 0x0001) {
        let q = x + 4;
        const next = (): number => {
          if (q + 8 > x + 4 + size) throw formatError(F, `zip64 extra field of "${name}" is too short`);
          const v = Number(d.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      x += 4 + size;
    }
    if (![compressedSize, uncompressedSize, localHeaderOffset].every(Number.isSafeInteger) || localHeaderOffset + 30 > r.size) {
      throw formatError(F, `entry "${name}" points outside the file`);
    }
    entries.push({ name, method, compressedSize, uncompressedSize, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

async function dataOffset(r: ByteReader, e: ZipEntry): Promise<number> {
  const h = dv(await r.read(e.localHeaderOffset, 30));
  if (h.getUint32(0, true) !== 0x04034b50) throw formatError(F, `entry "${e.name}" has no local header`);
  const start = e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
  if (start + e.compressedSize > r.size) throw formatError(F, `entry "${e.name}" data passes the end of the file`);
  return start;
}

function inflate(e: ZipEntry, data: Uint8Array, max: number, partial: boolean): Uint8Array {
  try {
    return inflateRawSync(data, { maxOutputLength: max, ...(partial ? { finishFlush: zc.Z_SYNC_FLUSH } : {}) });
  } catch (cause) {
    if (partial && (cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return new Uint8Array(0);
    throw formatError(F, `entry "${e.name}" does not inflate (${(cause as Error).message})`);
  }
}

/** The whole entry, refusing more than `max` bytes (zip bombs). */
export async function readZipEntry(r: ByteReader, e: ZipEntry, max: number): Promise<Uint8Array> {
  const start = await dataOffset(r, e);
  if (e.method === 0) {
    if (e.compressedSize > max) throw formatError(F, `entry "${e.name}" of ${e.compressedSize} bytes exceeds ${max}`);
    return r.read(start, e.compressedSize);
  }
  if (e.method === 8) {
    if (e.compressedSize > max) throw formatError(F, `entry "${e.name}" of ${e.compressedSize} compressed bytes exceeds ${max}`);
    return inflate(e, await r.read(start, e.compressedSize), max, false);
  }
  throw formatError(F, `entry "${e.name}" uses unsupported compression method ${e.method}`);
}

/** The first `n` bytes of an entry without inflating all of it. */
export async function readZipEntryHead(r: ByteReader, e: ZipEntry, n: number): Promise<Uint8Array> {
  const start = await dataOffset(r, e);
  if (e.method === 0) return r.read(start, Math.min(n, e.compressedSize));
  if (e.method === 8) {
    const raw = await r.read(start, Math.min(e.compressedSize, 512));
    return inflate(e, raw, 1 << 20, true).subarray(0, n);
  }
  throw formatError(F, `entry "${e.name}" uses unsupported compression method ${e.method}`);
}
