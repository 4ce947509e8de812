import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelsealError } from '../errors.js';
import { hasherWorkerData } from './hasher-source.js';
import { WORKER_SOURCE } from './worker-source.js';

export interface HashTask {
  path: string;
  /** OpenSSL digest name (see algorithms.ts). */
  algorithm: string;
  start: number;
  /** Exclusive; -1 = to end of file. */
  end: number;
}

export interface HashResult {
  digest: string;
  size: number;
}

interface Pending {
  task: HashTask;
  resolve: (r: HashResult) => void;
  reject: (e: unknown) => void;
}

/**
 * A fixed pool of hashing threads. Files (and shards of one large file) hash in parallel,
 * one task per worker at a time, so peak memory is workers × one read buffer.
 */
export class HashPool {
  private readonly size: number;
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly running = new Map<Worker, Pending>();
  private closed = false;

  constructor(size: number = os.availableParallelism()) {
    this.size = Math.max(1, size);
  }

  hash(task: HashTask): Promise<HashResult> {
    if (this.closed) return Promise.reject(new ModelsealError('INTERNAL', 'hash pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.pump();
    });
  }

  /** Start every worker now, so their boot overlaps the caller's signature checks and directory walk. */
  warm(): this {
    for (let w = this.spawn(); w; w = this.spawn()) this.idle.push(w);
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.all.map((w) => w.terminate()));
    this.all.length = 0;
    this.idle.length = 0;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? this.spawn();
      if (!worker) return;
      const job = this.queue.shift()!;
      this.running.set(worker, job);
      worker.ref();
      worker.postMessage({ id: 0, ...job.task });
    }
  }

  private spawn(): Worker | undefined {
    if (this.all.length >= this.size) return undefined;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: hasherWorkerData(), resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    w.on('message', (msg: { digest?: string; size?: number; error?: string; code?: string }) => {
      const job = this.running.get(w);
      this.running.delete(w);
      this.idle.push(w);
      w.unref();
      if (job) {
        if (msg.error !== undefined) job.reject(ioError(job.task.path, msg.error, msg.code));
        else job.resolve({ digest: msg.digest!, size: msg.size! });
      }
      this.pump();
    });
    w.on('error', (err) => {
      const job = this.running.get(w);
      this.running.delete(w);
      job?.reject(new ModelsealError('INTERNAL', `hash worker failed: ${err.message}`, { cause: err }));
    });
    // Idle workers never hold the process open; a busy one does until it answers.
    w.unref();
    this.all.push(w);
    return w;
  }
}

function ioError(path: string, message: string, code?: string): ModelsealError {
  if (code === 'ENOENT') return new ModelsealError('FILE_MISSING', `file vanished while hashing: ${path}`);
  if (code === 'ESHRANK') return new ModelsealError('DIGEST_MISMATCH', message);
  return new ModelsealError('IO', `cannot read ${path}: ${message}`);
}

let shared: HashPool | undefined;

/**
 * The process's pool, one worker per core. The CLI warms it before loading a hashing command,
 * so the workers' boot (~100 ms each) overlaps module loading and signature checks.
 */
export function sharedHashPool(): HashPool {
  shared ??= new HashPool().warm();
  return shared;
}

/** Run tasks on the shared pool (or a given one) and return results in task order. */
export async function hashAll(tasks: HashTask[], pool: HashPool = sharedHashPool()): Promise<HashResult[]> {
  return Promise.all(tasks.map((t) => pool.hash(t)));
}
