import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, readlink, rename, unlink } from 'node:fs/promises';
import os from 'node:os';
import { ModelsealError } from '../errors.js';

/**
 * One placement into a target at a time, and a way to tell a crashed run's leftovers from a live
 * run's work. The lock file names its owner: boot id, host name, pid namespace, pid and the pid's
 * start time. Whoever holds the lock may remove every staging and old-model directory of that
 * target, so a `kill -9` leaves nothing behind for longer than the next run's start.
 *
 * Liveness, in order:
 * - same boot and pid namespace: the owner lives iff /proc/<pid> is that same process (start time
 *   equal, not a zombie);
 * - same boot and host name, other pid namespace: an earlier container of this pod (a pod runs one
 *   instance of an init container at a time, and its containers share the host name): dead;
 * - otherwise (another node sharing a volume): the owner rewrites the lock every HEARTBEAT_MS; a
 *   lock older than STALE_AFTER_MS is dead.
 */
export interface Owner {
  pid: number;
  startTime: string;
  pidNamespace: string;
  bootId: string;
  host: string;
  /** ms since the epoch, rewritten by the heartbeat. */
  heartbeat: number;
}

export const HEARTBEAT_MS = 30_000;
export const STALE_AFTER_MS = 5 * 60_000;

function procStartTime(pid: number): { startTime: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { startTime: rest[19] ?? '', zombie: rest[0] === 'Z' || rest[0] === 'X' };
  } catch {
    return undefined;
  }
}

let me: Omit<Owner, 'heartbeat'> | undefined;
async function self(): Promise<Omit<Owner, 'heartbeat'>> {
  if (me) return me;
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
  const pidNamespace = await readlink('/proc/self/ns/pid').catch(() => 'unknown');
  me = { pid: process.pid, startTime: procStartTime(process.pid)?.startTime ?? 'unknown', pidNamespace, bootId, host: os.hostname() };
  return me;
}

/** Why an owner is dead, or undefined when it may still be running. */
export async function ownerGone(o: Owner, now = Date.now()): Promise<string | undefined> {
  const s = await self();
  if (o.bootId === s.bootId && o.pidNamespace === s.pidNamespace && s.pidNamespace !== 'unknown') {
    const p = procStartTime(o.pid);
    if (!p || p.zombie || p.startTime !== o.startTime) return `its owner (pid ${o.pid}) is gone`;
    return undefined;
  }
  if (o.bootId === s.bootId && o.host === s.host) return `its owner ran in an earlier container (pid namespace ${o.pidNamespace})`;
  if (now - o.heartbeat > STALE_AFTER_MS) return `its owner on ${o.host} has not been heard from for ${Math.round((now - o.heartbeat) / 1000)} s`;
  return undefined;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Owner;
    return typeof o.pid === 'number' && typeof o.heartbeat === 'number' && typeof o.bootId === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

export class OwnerLock {
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    readonly file: string,
    private readonly owner: Omit<Owner, 'heartbeat'>,
  ) {}

  /** Take the lock on `file`, taking over a dead owner's; refuse (exit 7) while a live one holds it. */
  static async acquire(file: string): Promise<OwnerLock> {
    const owner = await self();
    const lock = new OwnerLock(file, owner);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        try {
          await fh.writeFile(lock.text());
        } finally {
          await fh.close();
        }
        lock.startHeartbeat();
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // released meanwhile
      const current = parseOwner(text);
      const gone = current ? await ownerGone(current) : 'it is unreadable (a crash while writing it)';
      if (gone === undefined) {
        throw new ModelsealError('IO', `another modelseal run (pid ${current!.pid} on ${current!.host}) is placing a model here (lock ${file}); wait for it, or remove the lock if that run is known dead`);
      }
      // Take over atomically: a rename replaces the dead owner's file in one step.
      await lock.rewrite();
      const check = parseOwner(await readFile(file, 'utf8'));
      if (check && check.pid === owner.pid && check.startTime === owner.startTime && check.pidNamespace === owner.pidNamespace) {
        lock.startHeartbeat();
        return lock;
      }
    }
    throw new ModelsealError('IO', `could not take the placement lock ${file}: other runs keep taking it`);
  }

  private text(): string {
    return JSON.stringify({ ...this.owner, heartbeat: Date.now() } satisfies Owner) + '\n';
  }

  private async rewrite(): Promise<void> {
    const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(this.text());
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }

  private startHeartbeat(): void {
    this.timer = setInterval(() => void this.rewrite().catch(() => undefined), HEARTBEAT_MS);
    this.timer.unref();
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await unlink(this.file).catch(() => undefined);
  }
}
