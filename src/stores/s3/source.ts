import type { S3Client } from '@aws-sdk/client-s3';
import { PassThrough } from 'node:stream';
import { ModelsealError } from '../../errors.js';
import { assertSafeRelativePath } from '../../model/names.js';
import type { IncomingFile, ModelSource, ResolvedSource, SignatureCandidate, SourceEntry } from '../types.js';
import { createS3Client } from './client.js';
import { downloadObject } from './download.js';
import { isAbort } from './errors.js';
import { headObject, listKeys, readSmallObject, type ObjectPin } from './objects.js';
import { DEFAULT_PARALLEL_PARTS, DEFAULT_PART_SIZE, DEFAULT_RETRIES, MAX_PART_BUFFER, type S3Options } from './options.js';
import { mapLimit, Semaphore } from '../concurrency.js';
import { parseS3ObjectUrl, parseS3Url, s3Url } from './url.js';

import { isSbomName, pinningOf, SIGNATURE_NAME } from '../object-names.js';
export { isSbomName, SBOM_NAME, SBOM_SIGNATURE_NAME, SIGNATURE_NAME } from '../object-names.js';
const MAX_SIGNATURE_BYTES = 16 * 1024 * 1024;
const MAX_SBOM_BYTES = 16 * 1024 * 1024;
const HEAD_CONCURRENCY = 16;


class S3Source implements ModelSource {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private files: Map<string, ObjectPin> | undefined;
  private signature: ObjectPin | undefined;
  private sboms: ObjectPin[] = [];

  constructor(
    private readonly url: string,
    private readonly opts: S3Options,
  ) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    if (opts.signatureUrl !== undefined) parseS3ObjectUrl(opts.signatureUrl);
    this.client = createS3Client(opts);
  }

  async resolve(): Promise<ResolvedSource> {
    const keys = await listKeys(this.client, this.bucket, this.prefix);
    if (keys.length === 0) throw new ModelsealError('NOT_FOUND', `no objects under ${s3Url(this.bucket, this.prefix)}`);
    const rels = keys.map((k) => k.slice(this.prefix.length));
    for (const rel of rels) if (rel !== SIGNATURE_NAME && !isSbomName(rel)) assertSafeRelativePath(rel, s3Url(this.bucket, this.prefix));

    // HEAD each object once: VersionId/ETag to pin every later GET, the store's SHA-256, Object Lock.
    const pins = await mapLimit(keys, HEAD_CONCURRENCY, (k) => headObject(this.client, this.bucket, k));
    const files = new Map<string, ObjectPin>();
    pins.forEach((pin, i) => {
      const rel = rels[i]!;
      if (rel === SIGNATURE_NAME) this.signature = pin;
      else if (isSbomName(rel)) this.sboms.push(pin);
      else files.set(rel, pin);
    });
    if (this.opts.signatureUrl !== undefined) {
      const { bucket, key } = parseS3ObjectUrl(this.opts.signatureUrl);
      try {
        this.signature = await headObject(this.client, bucket, key);
      } catch (err) {
        if (err instanceof ModelsealError && err.code === 'NOT_FOUND') {
          throw new ModelsealError('SIGNATURE_MISSING', `no signature at ${this.opts.signatureUrl}`, { cause: err });
        }
        throw err;
      }
    }
    this.files = files;
    const all = [...files.values()];
    const versioned = all.filter((p) => p.versionId).length;
    return {
      reference: this.url,
      facts: {
        bucket: this.bucket,
        prefix: this.prefix,
        objects: all.length,
        bytes: all.reduce((n, p) => n + p.size, 0),
        pinning: pinningOf(versioned, all.length),
        objectLock: all.every((p) => p.objectLock) ? 'all' : all.some((p) => p.objectLock) ? 'some' : 'none',
      },
    };
  }

  private resolved(): Map<string, ObjectPin> {
    if (!this.files) throw new ModelsealError('INTERNAL', 'S3 source used before resolve()');
    return this.files;
  }

  async signatures(): Promise<SignatureCandidate[]> {
    this.resolved();
    const out: SignatureCandidate[] = [];
    if (this.signature) {
      const s = this.signature;
      out.push({ kind: 'oms', origin: s3Url(s.bucket, s.key), size: s.size, read: () => readSmallObject(this.client, s, MAX_SIGNATURE_BYTES) });
    }
    // Read only when a check asks (a bucket full of `*.sbom*` objects costs nothing otherwise).
    for (const s of this.sboms) {
      out.push({ kind: 'sbom', origin: s3Url(s.bucket, s.key), size: s.size, read: () => readSmallObject(this.client, s, MAX_SBOM_BYTES) });
    }
    return out;
  }

  async list(): Promise<SourceEntry[]> {
    return [...this.resolved().entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, p]) => ({ path, size: p.size, facts: factsOf(p) }));
  }

  async fetch(
    wanted: SourceEntry[],
    sink: (file: IncomingFile) => Promise<void>,
    opts: { concurrency: number; signal?: AbortSignal },
  ): Promise<void> {
    const files = this.resolved();
    const pins = wanted.map((w) => {
      const pin = files.get(w.path);
      if (!pin) throw new ModelsealError('INTERNAL', `fetch asked for ${JSON.stringify(w.path)}, which the S3 listing does not hold`);
      return pin;
    });
    const all = new AbortController();
    const onAbort = () => all.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const partSize = Math.max(64 * 1024, this.opts.partSize ?? DEFAULT_PART_SIZE);
    const ctx = {
      client: this.client,
      slots: new Semaphore(Math.max(1, this.opts.parallelParts ?? DEFAULT_PARALLEL_PARTS)),
      partSize,
      partBuffer: Math.max(64 * 1024, this.opts.maxPartBuffer ?? Math.min(partSize, MAX_PART_BUFFER)),
      retries: this.opts.retries ?? DEFAULT_RETRIES,
      signal: all.signal,
    };
    try {
      await mapLimit(wanted, Math.max(1, opts.concurrency), async (entry, i) => {
        const pin = pins[i]!;
        const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
        // The sink may not listen yet (it prepares its staging file first) when a failure destroys
        // the stream; an unheard 'error' would crash the process. The cause is reported below.
        stream.on('error', () => undefined);
        let prodErr: unknown;
        let sinkErr: unknown;
        const producing = downloadObject(ctx, pin, stream).catch((err) => {
          prodErr = err;
        });
        const sinking = sink({ path: entry.path, size: pin.size, stream }).then(
          () => {
            // A sink that returns before the last byte would leave the producer blocked.
            if (!stream.readableEnded && prodErr === undefined) {
              sinkErr = new ModelsealError('INTERNAL', `the pipeline stopped reading ${entry.path} before its end`);
              stream.destroy();
            }
          },
          (err) => {
            sinkErr = err;
            stream.destroy();
          },
        );
        await Promise.all([producing, sinking]);
        // Prefer the root cause: a source failure makes the sink fail too, and a sink failure aborts the source.
        const err = prodErr !== undefined && !isAbort(prodErr) && !(prodErr instanceof ModelsealError && prodErr.code === 'INTERNAL' && sinkErr)
          ? prodErr
          : (sinkErr ?? prodErr);
        if (err !== undefined) {
          all.abort(err);
          throw err;
        }
      });
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function factsOf(p: ObjectPin): Record<string, string> {
  const f: Record<string, string> = { etag: p.etag };
  if (p.versionId) f.versionId = p.versionId;
  if (p.checksumSha256) f.checksumSha256 = p.checksumSha256;
  if (p.objectLock) f.objectLock = p.objectLock;
  return f;
}

/** A ModelSource over `s3://bucket/prefix` (see ModelSource for the call order). */
export function createS3Source(url: string, opts: S3Options): ModelSource {
  return new S3Source(url, opts);
}
