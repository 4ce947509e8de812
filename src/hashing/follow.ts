import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelsealError } from '../errors.js';
import { opensslName, type HashAlgorithm } from './algorithms.js';
import { hasherWorkerData } from './hasher-source.js';
import { FOLLOW_SOURCE } from './follow-source.js';

interface Waiter {
  resolve: (shards: RangeDigest[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Hashes files as they are written to staging, on worker threads (one per core, files spread
 * round-robin). The downloading thread only reports progress; memory stays at 4 MiB per worker.
 */
export class FollowHasherPool {
  private readonly workers: Worker[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private next = 0;

  constructor(private readonly size: number = os.availableParallelism()) {}

  /** Start following a staging file (`shardSize` 0: the whole file); returns the handle the writer reports progress to. */
  follow(file: string, hashType: HashAlgorithm, shardSize: number): FollowedFile {
    const worker = this.worker();
    const id = this.nextId++;
    worker.postMessage({ type: 'open', id, path: file, alg: opensslName(hashType), shardSize });
    const done = new Promise<RangeDigest[]>((resolve, reject) => this.waiters.set(id, { resolve, reject }));
    done.catch(() => undefined);
    return new FollowedFile(worker, id, done);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  private worker(): Worker {
    if (this.workers.length < this.size) {
      // The workers allocate one 4 MiB buffer and small messages: a small young generation keeps RSS flat.
      const w = new Worker(FOLLOW_SOURCE, { eval: true, workerData: hasherWorkerData(), resourceLimits: { maxYoungGenerationSizeMb: 2 } });
      w.on('message', (m: { id: number; shards?: RangeDigest[]; error?: string }) => {
        const waiter = this.waiters.get(m.id);
        this.waiters.delete(m.id);
        if (!waiter) return;
        if (m.error !== undefined) waiter.reject(new ModelsealError('IO', `hashing a staged file failed: ${m.error}`));
        else waiter.resolve(m.shards!);
      });
      w.on('error', (err) => {
        for (const [id, waiter] of this.waiters) {
          waiter.reject(new ModelsealError('INTERNAL', `hash worker failed: ${err.message}`));
          this.waiters.delete(id);
        }
      });
      this.workers.push(w);
      return w;
    }
    return this.workers[this.next++ % this.workers.length]!;
  }
}

/** A byte range of a file and its digest (lowercase hex). */
export interface RangeDigest {
  start: number;
  end: number;
  digest: string;
}

export class FollowedFile {
  constructor(
    private readonly worker: Worker,
    private readonly id: number,
    private readonly done: Promise<RangeDigest[]>,
  ) {}

  /** Bytes [0, size) are on disk. */
  grew(size: number): void {
    this.worker.postMessage({ type: 'grow', id: this.id, size });
  }

  /** The file is complete at `size` bytes: the digest of each range (one range for a whole file). */
  async finish(size: number): Promise<RangeDigest[]> {
    this.worker.postMessage({ type: 'end', id: this.id, size });
    return this.done;
  }

  abort(): void {
    this.worker.postMessage({ type: 'abort', id: this.id });
  }
}
