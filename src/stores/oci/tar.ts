import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import tarStream from 'tar-stream';
import { ModelsealError } from '../../errors.js';
import type { Packing } from './media-types.js';

function unsafe(layer: string, msg: string, name: string): ModelsealError {
  return new ModelsealError('ARCHIVE_UNSAFE', `tar layer ${layer}: ${msg}: ${JSON.stringify(name.slice(0, 200))}`, { details: { layer, entry: name } });
}

/**
 * A member name made model-relative, or an ARCHIVE_UNSAFE error: absolute paths, drive letters,
 * backslashes, NUL and any `..` segment are refused outright (never "sanitised", so a signed
 * path can never be reached through a crafted alias).
 */
export function memberPath(raw: string, layer: string): string {
  if (raw.includes('\0') || raw.includes('\\')) throw unsafe(layer, 'NUL or backslash in entry name', raw);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw unsafe(layer, 'absolute entry path', raw);
  const segs = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.some((s) => s === '..')) throw unsafe(layer, 'entry path traverses with ".."', raw);
  return segs.join('/');
}

/** Where a link would point, relative to the archive root, or undefined if it leaves the root. */
function linkTarget(entryPath: string, linkname: string, hard: boolean): string | undefined {
  if (linkname.startsWith('/') || linkname.includes('\0')) return undefined;
  // Hard-link names are archive-relative; symlink targets are relative to the link's directory.
  const base = hard ? [] : entryPath.split('/').slice(0, -1);
  for (const seg of linkname.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (base.length === 0) return undefined;
      base.pop();
    } else base.push(seg);
  }
  return base.join('/');
}

class ZstdDecompress extends Transform {
  private readonly d = new Decompress((chunk) => {
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.d.push(chunk);
      cb();
    } catch (err) {
      cb(new ModelsealError('FORMAT_INVALID', `zstd layer is corrupt: ${(err as Error).message}`, { cause: err }));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.d.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(new ModelsealError('FORMAT_INVALID', `zstd layer is truncated: ${(err as Error).message}`, { cause: err }));
    }
  }
}

/** Hashes the uncompressed stream and fails at its end unless it matches the declared diffId. */
class DiffIdCheck extends Transform {
  private readonly h = createHash('sha256');
  constructor(private readonly diffId: string, private readonly layer: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const actual = `sha256:${this.h.digest('hex')}`;
    if (actual !== this.diffId) {
      cb(new ModelsealError('DIGEST_MISMATCH', `layer ${this.layer}: uncompressed content hashes to ${actual}, config diffId says ${this.diffId}`, {
        details: { layer: this.layer, expected: this.diffId, actual },
      }));
    } else cb();
  }
}

/**
 * How far a compressed layer may expand. Weights barely compress and tokenizers/configs do ~5–10×,
 * so 250× (with a floor for small layers) leaves real models alone while a decompression bomb
 * stops long before it can burn minutes of CPU or fill the staging disk.
 */
export interface ExpansionLimit {
  ratio: number;
  floor: number;
}
export const DEFAULT_EXPANSION: ExpansionLimit = { ratio: 250, floor: 256 * 1024 * 1024 };

export function expansionLimitBytes(compressedSize: number, l: ExpansionLimit = DEFAULT_EXPANSION): number {
  return Math.max(l.floor, compressedSize * l.ratio);
}

class ExpansionCap extends Transform {
  private seen = 0;
  constructor(private readonly limit: number, private readonly layer: string, private readonly compressed: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      cb(new ModelsealError('ARCHIVE_UNSAFE', `tar layer ${this.layer} expands past ${this.limit} bytes from ${this.compressed} compressed (decompression bomb?)`, {
        details: { layer: this.layer, limit: this.limit, compressed: this.compressed },
      }));
    } else cb(null, chunk);
  }
}

/**
 * Verified compressed blob → uncompressed tar stream, capped at `maxBytes` after decompression,
 * and checked against its diffId when one is declared.
 */
export function uncompressedTar(blob: Readable, packing: Packing, layer: string, diffId?: string, cap?: { compressed: number; maxBytes: number }): Readable {
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream> = [blob];
  if (packing === 'tar+gzip') stages.push(createGunzip());
  else if (packing === 'tar+zstd') stages.push(new ZstdDecompress());
  if (packing !== 'tar' && cap) stages.push(new ExpansionCap(cap.maxBytes, layer, cap.compressed));
  if (diffId) stages.push(new DiffIdCheck(diffId, layer));
  if (stages.length === 1) return blob;
  // pipeline destroys every stage on the first error, so the consumer sees it on the last one.
  return (pipeline as unknown as (...s: unknown[]) => Readable)(...stages, () => undefined);
}

export interface TarMember {
  path: string;
  size: number;
  stream: Readable;
}

export interface TarScanOptions {
  layer: string;
  /** Entries must equal this model-relative path or lie under it ('' = model root). */
  prefix: string;
}

/**
 * Walks a tar stream, validating every entry, and hands each regular file to `onFile` in archive
 * order (the stream must be consumed or drained by it). Links and devices are refused: the
 * pipeline places only regular files, and a link is how archives escape their target.
 */
export async function scanTar(tar: Readable, o: TarScanOptions, onFile: (m: TarMember) => Promise<void>): Promise<void> {
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    pipeline(tar, extract, (err) => (err ? reject(err) : resolve()));
  });
  done.catch(() => undefined);
  const seen = new Set<string>();
  try {
    for await (const e of extract) {
      const entry = e as unknown as Readable;
      const h = (e as unknown as { header: tarStream.Header }).header;
      const p = memberPath(h.name, o.layer);
      if (p === '') {
        if (h.type !== 'directory') throw unsafe(o.layer, 'entry names the archive root', h.name);
        entry.resume();
        continue;
      }
      if (o.prefix && p !== o.prefix && !p.startsWith(`${o.prefix}/`)) {
        throw unsafe(o.layer, `entry lies outside the layer's declared path "${o.prefix}"`, h.name);
      }
      switch (h.type) {
        case 'directory':
          entry.resume();
          continue;
        case 'file':
        case 'contiguous-file': {
          if (seen.has(p)) throw unsafe(o.layer, 'entry appears twice', h.name);
          seen.add(p);
          await onFile({ path: p, size: h.size ?? 0, stream: entry });
          // A consumer that returned without reading to the end still must not stall the archive.
          if (!entry.readableEnded) entry.resume();
          continue;
        }
        case 'symlink':
        case 'link': {
          const target = linkTarget(p, h.linkname ?? '', h.type === 'link');
          if (target === undefined) throw unsafe(o.layer, `${h.type} escapes the model root (-> ${h.linkname ?? ''})`, h.name);
          throw unsafe(o.layer, `${h.type} entries are not placed (-> ${h.linkname ?? ''})`, h.name);
        }
        default:
          throw unsafe(o.layer, `${h.type ?? 'unknown'} entries are not allowed`, h.name);
      }
    }
  } catch (err) {
    extract.destroy();
    tar.destroy();
    // A stream failure (digest, diffId, network) explains a truncated archive better than the parser does.
    const streamErr = await done.then(() => undefined, (e: unknown) => e);
    if (!(err instanceof ModelsealError) && streamErr instanceof ModelsealError) throw streamErr;
    if (!(err instanceof ModelsealError)) {
      throw new ModelsealError('FORMAT_INVALID', `tar layer ${o.layer} is malformed: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
  try {
    await done;
  } catch (err) {
    if (err instanceof ModelsealError) throw err;
    throw new ModelsealError('FORMAT_INVALID', `tar layer ${o.layer} is malformed: ${(err as Error).message}`, { cause: err });
  }
}
