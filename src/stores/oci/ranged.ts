import { ModelsealError } from '../../errors.js';
import type { Semaphore } from '../concurrency.js';

/**
 * One large blob fetched as parallel byte ranges and yielded in order: registries behind CDNs
 * cap each connection, and a 40 GB single-file model on one connection is the slowest part of a
 * pod start. Each part is held in memory until its turn (≤ part size), and every part in flight
 * holds a slot of a semaphore shared by the whole pull, so buffered memory stays ≤ slots × part
 * size however many large blobs download at once.
 */

export interface RangeFetch {
  /** Bytes [start, end] (inclusive) as a 206 body, checked by the caller's Content-Range rules. */
  open(start: number, end: number, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  size: number;
  partSize: number;
  slots: Semaphore;
  retries: number;
  backoff(attempt: number, signal: AbortSignal): Promise<void>;
  what: string;
}

/** GET one part completely, resuming within the part after a cut connection. */
async function fetchPart(f: RangeFetch, start: number, end: number, signal: AbortSignal): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let got = 0;
  let attempt = 0;
  const want = end - start + 1;
  for (;;) {
    try {
      for await (const c of await f.open(start + got, end, signal)) {
        const b = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        if (got + b.length > want) throw new ModelsealError('SIZE_MISMATCH', `${f.what}: range ${start}-${end} answered with more than ${want} bytes`);
        chunks.push(b);
        got += b.length;
      }
      if (got === want) return chunks;
      throw Object.assign(new Error(`range ${start}-${end} ended after ${got} of ${want} bytes`), { code: 'PREMATURE_END' });
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      if (err instanceof ModelsealError && err.code !== 'NETWORK') throw err;
      if (attempt >= f.retries) {
        throw new ModelsealError('NETWORK', `${f.what}: range ${start}-${end} cut after ${got} bytes; gave up after ${attempt} resumes`, { cause: err });
      }
      await f.backoff(attempt++, signal);
    }
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export async function* rangedChunks(f: RangeFetch, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const local = new AbortController();
  const onAbort = () => local.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const ranges: Array<[number, number]> = [];
  for (let s = 0; s < f.size; s += f.partSize) ranges.push([s, Math.min(f.size, s + f.partSize) - 1]);
  const parts: Array<Deferred<Buffer[]> | undefined> = ranges.map(() => deferred<Buffer[]>());
  let held = 0;
  // Launch parts in offset order as slots free up; the part the reader waits on always holds one.
  const launcher = (async () => {
    for (const [i, [s, e]] of ranges.entries()) {
      try {
        await f.slots.acquire(local.signal);
      } catch (err) {
        for (const p of parts.slice(i)) p?.reject(err);
        return;
      }
      held++;
      fetchPart(f, s, e, local.signal).then(parts[i]!.resolve, parts[i]!.reject);
    }
  })();
  try {
    for (let i = 0; i < parts.length; i++) {
      const chunks = await parts[i]!.promise;
      parts[i] = undefined; // a consumed part's buffers must not live until the blob ends
      held--;
      f.slots.release();
      for (const c of chunks) yield c;
    }
  } finally {
    local.abort(new DOMException('ranged download finished', 'AbortError'));
    signal?.removeEventListener('abort', onAbort);
    await launcher;
    await Promise.allSettled(parts.map((p) => p?.promise));
    for (; held > 0; held--) f.slots.release();
  }
}
