import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { ModelsealError, oneLine } from '../../errors.js';
import { logger } from '../../log.js';
import { isAbort, isRetryable, s3Error, TruncatedBody } from './errors.js';
import type { ObjectPin } from './objects.js';
import { sleep, type Semaphore } from '../concurrency.js';
import { s3Url } from './url.js';

/**
 * Parallel ranged GETs of one object delivered as ONE in-order stream (oci-and-s3.md §4.4).
 * Parts are fetched concurrently, each holding a slot of a semaphore shared by the whole pull
 * until its bytes are handed on, so buffered memory stays ≤ slots × partBuffer (≤ 4 MiB by default)
 * however large the model. The head part streams straight through; later parts wait in a reorder buffer.
 * Every request is pinned to the resolved VersionId and ETag (§4.5), so an overwrite during the
 * pull is either invisible (versioned) or a clean 412 (unversioned).
 */

export interface DownloadContext {
  client: S3Client;
  slots: Semaphore;
  partSize: number;
  /** Most bytes a part ahead of the writer holds before it pauses its body. */
  partBuffer: number;
  retries: number;
  signal: AbortSignal;
}

/**
 * Chunks of one part, produced by its GET and consumed in order by the writer. A part ahead of
 * the writer buffers at most `cap` bytes, then stops reading its body (TCP backpressure), so
 * memory stays bounded even with parts far larger than the cap.
 */
class PartBuffer {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly cap: number) {}

  push(c: Buffer): void {
    this.chunks.push(c);
    this.buffered += c.length;
    this.notify();
  }
  /** Resolves once the writer has taken what is buffered (immediately while under the cap). */
  room(signal: AbortSignal): Promise<void> {
    if (this.buffered < this.cap) return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.wakeProducer = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }
  finish(): void {
    this.done = true;
    this.notify();
  }
  fail(err: unknown): void {
    this.error = err;
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async *drain(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.chunks.length) {
        // Hand chunks on and drop our reference so the memory is freed as it is written.
        const batch = this.chunks.splice(0, this.chunks.length);
        this.buffered = 0;
        const w = this.wakeProducer;
        this.wakeProducer = undefined;
        w?.();
        for (const c of batch) yield c;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.done) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

function pinned(pin: ObjectPin) {
  return { Bucket: pin.bucket, Key: pin.key, IfMatch: pin.etag, ...(pin.versionId ? { VersionId: pin.versionId } : {}) };
}

/** The response must be the very version and range we asked for; anything else is a protocol breach. */
function checkResponse(res: GetObjectCommandOutput, pin: ObjectPin, start: number, end: number): void {
  const what = s3Url(pin.bucket, pin.key);
  if (res.ETag !== undefined && res.ETag !== pin.etag) {
    throw new ModelsealError('SOURCE_UNAVAILABLE', `${what} changed after it was listed (ETag ${res.ETag} ≠ ${pin.etag})`);
  }
  if (pin.versionId && res.VersionId !== undefined && res.VersionId !== pin.versionId) {
    throw new ModelsealError('SOURCE_UNAVAILABLE', `${what} served version ${res.VersionId}, not the pinned ${pin.versionId}`);
  }
  if (pin.size === 0) return;
  const want = `bytes ${start}-${end}/${pin.size}`;
  if (res.$metadata.httpStatusCode !== 206 || res.ContentRange !== want) {
    // A 200 means the Range header was ignored: we would receive the whole object again.
    throw new ModelsealError(
      'REGISTRY_PROTOCOL',
      `${what} answered HTTP ${res.$metadata.httpStatusCode} ${res.ContentRange ?? '(no Content-Range)'} to a request for ${want}`,
    );
  }
}

/** GET bytes [start, end] into `part`, resuming from the last byte received after a dropped connection. */
async function fetchPart(ctx: DownloadContext, pin: ObjectPin, start: number, end: number, part: PartBuffer): Promise<void> {
  const what = s3Url(pin.bucket, pin.key);
  let offset = start;
  let attempt = 0;
  for (;;) {
    try {
      const ranged = pin.size > 0;
      const res = await ctx.client.send(
        new GetObjectCommand({ ...pinned(pin), ...(ranged ? { Range: `bytes=${offset}-${end}` } : {}) }),
        { abortSignal: ctx.signal },
      );
      checkResponse(res, pin, offset, end);
      for await (const c of res.Body as Readable) {
        const chunk = c as Buffer;
        if (offset + chunk.length > end + 1) {
          throw new ModelsealError('SIZE_MISMATCH', `${what} sent more bytes than the range ${start}-${end} holds`);
        }
        offset += chunk.length;
        part.push(chunk);
        await part.room(ctx.signal);
      }
      if (offset <= end) throw new TruncatedBody(`body ended at byte ${offset} of ${end + 1}`);
      part.finish();
      return;
    } catch (err) {
      if (ctx.signal.aborted || isAbort(err)) throw ctx.signal.reason ?? err;
      if (!isRetryable(err) || attempt >= ctx.retries) throw s3Error(err, what);
      attempt++;
      const delay = Math.min(8000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      logger().warn({ object: what, offset, end, attempt, reason: oneLine(err) }, 'S3 part interrupted; resuming the remaining range');
      await sleep(delay, ctx.signal);
    }
  }
}

async function write(out: PassThrough, chunk: Buffer, signal: AbortSignal): Promise<void> {
  if (out.destroyed) throw new ModelsealError('INTERNAL', 'the consumer closed the stream early');
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => done();
    const onClose = () => done(new ModelsealError('INTERNAL', 'the consumer closed the stream early'));
    const onAbort = () => done(signal.reason);
    out.on('drain', onDrain);
    out.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Produce the object's bytes into `out` in offset order, then end it. Rejects (and destroys
 * `out`) on any failure, including a store SHA-256 that disagrees with the bytes.
 */
export async function downloadObject(ctx: DownloadContext, pin: ObjectPin, out: PassThrough): Promise<void> {
  const what = s3Url(pin.bucket, pin.key);
  const ranges: Array<[number, number]> = [];
  if (pin.size === 0) ranges.push([0, -1]);
  for (let s = 0; s < pin.size; s += ctx.partSize) ranges.push([s, Math.min(pin.size, s + ctx.partSize) - 1]);

  const parts = ranges.map(() => new PartBuffer(ctx.partBuffer));
  const launched: Array<Promise<void>> = [];
  let held = 0; // slots acquired by this object and not yet released
  const local = new AbortController();
  const onAbort = () => local.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const pctx: DownloadContext = { ...ctx, signal: local.signal };

  // Launcher: acquire a slot per part in offset order, so the part the writer waits on always holds one.
  const launcher = (async () => {
    for (let i = 0; i < ranges.length; i++) {
      await ctx.slots.acquire(local.signal);
      held++;
      const [s, e] = ranges[i]!;
      const p = fetchPart(pctx, pin, s, e, parts[i]!);
      p.catch((err) => parts[i]!.fail(err));
      launched.push(p.catch(() => undefined));
    }
  })();
  launcher.catch((err) => parts[Math.min(launched.length, parts.length - 1)]!.fail(err));

  const hash = pin.checksumSha256 ? createHash('sha256') : undefined;
  let written = 0;
  try {
    for (const part of parts) {
      for await (const chunk of part.drain()) {
        hash?.update(chunk);
        written += chunk.length;
        await write(out, chunk, local.signal);
      }
      held--;
      ctx.slots.release();
    }
    if (written !== pin.size) throw new ModelsealError('SIZE_MISMATCH', `${what} delivered ${written} bytes, expected ${pin.size}`);
    if (hash) {
      const got = hash.digest('hex');
      if (got !== pin.checksumSha256) {
        throw new ModelsealError('DIGEST_MISMATCH', `${what} does not match the store's own SHA-256 (store ${pin.checksumSha256}, bytes ${got})`, {
          details: { object: what, storeSha256: pin.checksumSha256, sha256: got },
        });
      }
    }
    out.end();
  } catch (err) {
    local.abort(err);
    out.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    local.abort(new DOMException('download finished', 'AbortError'));
    ctx.signal.removeEventListener('abort', onAbort);
    await launcher.catch(() => undefined);
    await Promise.all(launched);
    for (; held > 0; held--) ctx.slots.release();
  }
}
