import { randomBytes } from 'node:crypto';
import { chmod, constants, copyFile, link, mkdir, open, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError, oneLine } from '../errors.js';
import { HashPool } from '../hashing/pool.js';
import { logger } from '../log.js';
import type { Manifest, Resource } from '../model/types.js';
import type { SourceEntry } from '../stores/types.js';
import { FileLock } from './lock.js';

/**
 * A node-level cache of verified model files (`--cache DIR`, a hostPath in Kubernetes),
 * content-addressed by each file's signed SHA-256.
 *
 * Trust rules — the cache is a convenience, never an authority:
 * - A file enters only after the pull that fetched it has hashed it against the signed digest
 *   (the staged, verified file is hard-linked into the cache in link mode, else copied).
 * - A cached file is re-hashed (whole-file SHA-256, on worker threads) every time a pull takes
 *   it, after it is linked or copied into staging and before it counts as delivered. A mismatch
 *   evicts the entry and the file is fetched from the source like any other.
 * - With `place: 'link'` (default) the placed file and the cache entry are one inode: whoever can
 *   write the cache can change a placed model after it was verified. Entries are 0444 in a 0700
 *   directory; use `place: 'copy'` when the cache is shared with less trusted writers.
 *
 * Only `files` + `sha256` signatures name a SHA-256 per file; for other serializations the
 * cache is bypassed (logged). Concurrent pulls on one node lock every digest they need, in
 * sorted order (no deadlock), for the whole pull: the second pull waits and then finds the
 * files cached, so each blob is fetched once. Size cap: least recently used entries (by a
 * `used/<hex>` stamp, so placed hard links keep their own times) are evicted past `maxBytes`.
 */
export interface CacheOptions {
  dir: string;
  /** Size cap in bytes (default: unlimited). */
  maxBytes?: number;
  place?: 'link' | 'copy';
  /** A lock not refreshed for this long belongs to a dead pull (default 60 s). */
  lockStaleMs?: number;
  lockPollMs?: number;
}

export interface CacheHit {
  path: string;
  size: number;
  resource: Resource;
}

const HEX = /^[a-f0-9]{64}$/;

export class NodeCache {
  private constructor(private readonly o: Required<Omit<CacheOptions, 'maxBytes'>> & { maxBytes: number }) {}

  static async open(o: CacheOptions): Promise<NodeCache> {
    const dir = path.resolve(o.dir);
    for (const sub of ['', 'sha256', 'used', 'locks', 'tmp']) await mkdir(path.join(dir, sub), { recursive: true, mode: 0o700 });
    if (o.maxBytes !== undefined && (!Number.isSafeInteger(o.maxBytes) || o.maxBytes < 0)) throw new ModelsealError('USAGE', 'cache size cap must be a whole number of bytes');
    return new NodeCache({
      dir, maxBytes: o.maxBytes ?? Number.MAX_SAFE_INTEGER, place: o.place ?? 'link', lockStaleMs: o.lockStaleMs ?? 60_000, lockPollMs: o.lockPollMs ?? 200,
    });
  }

  get dir(): string {
    return this.o.dir;
  }

  entryPath(hex: string): string {
    if (!HEX.test(hex)) throw new ModelsealError('INTERNAL', `not a sha256 hex digest: ${hex}`);
    return path.join(this.o.dir, 'sha256', hex);
  }

  /**
   * Start a pull's use of the cache: lock the signed digests of `wanted`, place and re-hash the
   * cached ones into staging (`pathFor`), and return them with the entries still to fetch.
   */
  async session(manifest: Manifest, wanted: SourceEntry[], pathFor: (rel: string) => string, signal?: AbortSignal): Promise<CacheSession> {
    const s = manifest.serialization;
    if (s.method !== 'files' || s.hashType !== 'sha256') {
      logger().info({ serialization: s.method, hashType: s.hashType }, 'cache bypassed: the signature names no SHA-256 per file');
      return new CacheSession(this, [], wanted, new Map(), []);
    }
    const digestOf = new Map(manifest.resources.map((r) => [r.name, r.digest]));
    const wantedDigests = new Map<string, string>();
    for (const w of wanted) {
      const d = digestOf.get(w.path);
      if (d && HEX.test(d)) wantedDigests.set(w.path, d);
    }
    const locks: FileLock[] = [];
    try {
      for (const hex of [...new Set(wantedDigests.values())].sort()) {
        locks.push(await FileLock.acquire(path.join(this.o.dir, 'locks', `${hex}.lock`), { staleMs: this.o.lockStaleMs, pollMs: this.o.lockPollMs, ...(signal ? { signal } : {}) }));
      }
      const placed: Array<{ entry: SourceEntry; hex: string; dest: string; size: number }> = [];
      for (const w of wanted) {
        const hex = wantedDigests.get(w.path);
        if (!hex) continue;
        const dest = pathFor(w.path);
        const size = await this.place(hex, dest);
        if (size !== undefined) placed.push({ entry: w, hex, dest, size });
      }
      const hits: CacheHit[] = [];
      const pool = new HashPool();
      try {
        const sums = await Promise.all(placed.map((p) => pool.hash({ path: p.dest, algorithm: 'sha256', start: 0, end: -1 })));
        for (const [i, p] of placed.entries()) {
          if (sums[i]!.digest === p.hex) {
            hits.push({ path: p.entry.path, size: sums[i]!.size, resource: { name: p.entry.path, algorithm: 'sha256', digest: p.hex } });
            await this.touch(p.hex);
          } else {
            logger().warn({ file: p.entry.path, cached: this.entryPath(p.hex), got: sums[i]!.digest }, 'cached file does not match its signed digest: evicted, fetching it again');
            await unlink(p.dest).catch(() => undefined);
            await this.evict(p.hex);
          }
        }
      } finally {
        await pool.close();
      }
      const hit = new Set(hits.map((h) => h.path));
      return new CacheSession(this, hits, wanted.filter((w) => !hit.has(w.path)), wantedDigests, locks);
    } catch (err) {
      await Promise.all(locks.map((l) => l.release()));
      throw err;
    }
  }

  /** Link (or copy) the entry into `dest`; its size, or undefined when there is no entry. */
  private async place(hex: string, dest: string): Promise<number | undefined> {
    const src = this.entryPath(hex);
    const st = await stat(src).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    try {
      if (this.o.place === 'link') {
        try {
          await link(src, dest);
          return st.size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
        }
      }
      // A reflink where the filesystem can (btrfs, XFS), else a plain copy.
      await copyFile(src, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      return st.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // evicted meanwhile
      throw new ModelsealError('IO', `cannot take ${hex} from the cache: ${oneLine(err)}`, { cause: err });
    }
  }

  /** Add a verified staged file under its signed digest (the caller hashed it against the signature). */
  async admit(hex: string, staged: string): Promise<void> {
    const st = await stat(staged);
    if (st.size > this.o.maxBytes) return;
    const entry = this.entryPath(hex);
    if (await stat(entry).then(() => true, () => false)) return;
    const tmp = path.join(this.o.dir, 'tmp', `${hex}.${randomBytes(6).toString('hex')}`);
    try {
      let linked = false;
      if (this.o.place === 'link') linked = await link(staged, tmp).then(() => true, () => false);
      if (!linked) await copyFile(staged, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      await chmod(tmp, 0o444);
      await rename(tmp, entry);
      await this.touch(hex);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      // A cache that cannot take a file never fails the pull that verified it.
      logger().warn({ digest: hex, reason: oneLine(err) }, 'could not add a verified file to the cache');
    }
  }

  private async touch(hex: string): Promise<void> {
    const p = path.join(this.o.dir, 'used', hex);
    const now = new Date();
    await utimes(p, now, now).catch(async () => {
      await (await open(p, 'a', 0o600)).close();
    });
  }

  async evict(hex: string): Promise<void> {
    await unlink(this.entryPath(hex)).catch(() => undefined);
    await unlink(path.join(this.o.dir, 'used', hex)).catch(() => undefined);
  }

  /** Evict least recently used entries until the cache fits its cap; entries another pull has locked stay. */
  async trim(keep: Set<string>): Promise<void> {
    if (this.o.maxBytes === Number.MAX_SAFE_INTEGER) return;
    const entries: Array<{ hex: string; size: number; used: number }> = [];
    for (const hex of await readdir(path.join(this.o.dir, 'sha256'))) {
      if (!HEX.test(hex)) continue;
      const st = await stat(this.entryPath(hex)).catch(() => undefined);
      if (!st) continue;
      const used = await stat(path.join(this.o.dir, 'used', hex)).then((u) => u.mtimeMs, () => 0);
      entries.push({ hex, size: st.size, used });
    }
    let total = entries.reduce((n, e) => n + e.size, 0);
    for (const e of entries.sort((a, b) => a.used - b.used)) {
      if (total <= this.o.maxBytes) break;
      if (keep.has(e.hex)) continue;
      const locked = await stat(path.join(this.o.dir, 'locks', `${e.hex}.lock`)).then(() => true, () => false);
      if (locked) continue;
      await this.evict(e.hex);
      total -= e.size;
      logger().info({ digest: e.hex, bytes: e.size }, 'cache entry evicted (least recently used, over the size cap)');
    }
  }
}

/** One pull's hold on the cache: what it found, what it must fetch, and admission of what it fetched. */
export class CacheSession {
  private readonly admitted = new Set<string>();

  constructor(
    private readonly cache: NodeCache,
    readonly hits: CacheHit[],
    readonly misses: SourceEntry[],
    private readonly digests: Map<string, string>,
    private readonly locks: FileLock[],
  ) {}

  /** `rel` was verified against its signed digest at `staged`: keep it for the next pull. */
  async admit(rel: string, staged: string): Promise<void> {
    const hex = this.digests.get(rel);
    if (!hex || this.admitted.has(hex)) return;
    this.admitted.add(hex);
    await this.cache.admit(hex, staged);
  }

  async release(): Promise<void> {
    try {
      await this.cache.trim(new Set(this.digests.values()));
    } finally {
      await Promise.all(this.locks.map((l) => l.release()));
    }
  }
}
