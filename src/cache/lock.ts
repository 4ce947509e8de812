import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import { sleep } from '../stores/concurrency.js';

/**
 * An exclusive lock between processes (and pods) sharing one cache directory: a lock file
 * created with O_EXCL, its mtime refreshed while held. PIDs mean nothing across PID namespaces,
 * so a holder that died is recognised by a lock not refreshed for `staleMs`, which the next
 * waiter moves aside (and puts back if it turns out to have been refreshed meanwhile).
 */
export interface LockOptions {
  staleMs: number;
  pollMs: number;
  signal?: AbortSignal;
}

export class FileLock {
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly file: string, refreshMs: number) {
    this.timer = setInterval(() => {
      const now = new Date();
      utimes(this.file, now, now).catch(() => undefined);
    }, refreshMs);
    this.timer.unref();
  }

  static async acquire(file: string, o: LockOptions): Promise<FileLock> {
    for (;;) {
      if (o.signal?.aborted) throw o.signal.reason;
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(`${os.hostname()} ${process.pid} ${new Date().toISOString()}\n`).finally(() => fh.close());
        return new FileLock(file, Math.max(50, Math.floor(o.staleMs / 3)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = await stat(file).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > o.staleMs) await breakStale(file, o.staleMs);
      else await sleep(o.pollMs * (0.5 + Math.random()), o.signal);
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await unlink(this.file).catch(() => undefined);
  }
}

async function breakStale(file: string, staleMs: number): Promise<void> {
  const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch {
    return; // another waiter moved it first
  }
  const st = await stat(aside).catch(() => undefined);
  if (st && Date.now() - st.mtimeMs <= staleMs) {
    // Between our stat and rename the lock was taken afresh: give it back (link fails if a new one exists).
    await link(aside, file).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}
