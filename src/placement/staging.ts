import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { fsError } from './fs-errors.js';
import { OwnerLock } from './owner-lock.js';
import { receiptBundlePath } from './receipt-signature.js';

/**
 * Where and how a verified model lands. Two layouts, both keeping unverified bytes in a 0700
 * staging directory on the target's filesystem (so placing is renames, never copies):
 *
 * - beside: the target's parent is writable (`--into /models/model` on a volume mounted at
 *   /models). Staging is `<parent>/.modelseal-staging-<name>-*`; the swap renames the old model
 *   aside and the staged tree into its place, so the target is the old model, absent, or the new
 *   one — never a mix.
 * - inside: the target is a mount point (KServe's `/mnt/models`), whose parent is usually the
 *   container's read-only root. Staging is `<target>/.modelseal-staging-*`; after verification the
 *   old entries move into a hidden trash directory and the staged entries are renamed in. Every
 *   visible entry is verified bytes (old or new) at every moment.
 *
 * In both, an existing receipt is removed before the swap and the new one written last, so a
 * receipt always describes what is there. A lock file names the run that owns the target; with it
 * held, any staging or trash directory of that target is a dead run's and is removed.
 */
export type Layout = 'beside' | 'inside';

const PREFIX = '.modelseal-';
/** Inside a mount point the receipt has nowhere else to go; it is hidden and skipped by re-verification. */
export const INSIDE_RECEIPT = '.modelseal-receipt.json';
/** Entries of a mount point root that belong to the filesystem, not to any model. */
const FILESYSTEM_ENTRIES = new Set(['lost+found']);

/** Staging directories still on disk, for a synchronous last-chance removal when the process must exit now. */
const live = new Set<string>();
export function removeLiveStagingSync(): void {
  for (const dir of live) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* the next run reclaims it under the owner lock */
    }
  }
  live.clear();
}

export interface PlacementOptions {
  /** Refuse a target that holds anything (the default for `modelseal pull` without --replace). */
  refuseNonEmpty: boolean;
  /** Receipt path as configured (undefined: the layout's default). */
  receiptPath?: string;
}

export class Placement {
  private constructor(
    readonly target: string,
    readonly layout: Layout,
    readonly receiptPath: string,
    private readonly lock: OwnerLock,
  ) {}

  /** Decide the layout, take the target's lock, remove dead runs' leftovers, and apply the non-empty rule. */
  static async open(target: string, opts: PlacementOptions): Promise<Placement> {
    const abs = path.resolve(target);
    const parent = path.dirname(abs);
    const st = await lstat(abs).catch(() => undefined);
    if (st && !st.isDirectory()) throw new ModelsealError('CONFIG_INVALID', `target ${abs} exists and is not a directory`);
    const layout: Layout = st && (await isMountPoint(abs)) ? 'inside' : 'beside';
    if (layout === 'beside') await mkdir(parent, { recursive: true }).catch((err) => Promise.reject(fsError(err, parent, 'create')));
    const lockFile = layout === 'inside' ? path.join(abs, `${PREFIX}lock`) : path.join(parent, `${PREFIX}${path.basename(abs)}.lock`);
    const lock = await OwnerLock.acquire(lockFile).catch((err) => Promise.reject(fsError(err, path.dirname(lockFile), 'write')));
    try {
      const receiptPath = path.resolve(opts.receiptPath ?? (layout === 'inside' ? path.join(abs, INSIDE_RECEIPT) : `${abs}.receipt.json`));
      const p = new Placement(abs, layout, receiptPath, lock);
      await p.reclaim();
      if (opts.refuseNonEmpty && (await p.modelEntries()).length > 0) {
        throw new ModelsealError('CONFIG_INVALID', `target ${abs} is not empty; pass --replace to replace it (the new model is verified before the old one is removed)`);
      }
      return p;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** The directory that holds this target's staging, trash and lock entries. */
  private get home(): string {
    return this.layout === 'inside' ? this.target : path.dirname(this.target);
  }

  /** Our private entries' name prefix inside `home`. */
  private get ours(): string {
    return this.layout === 'inside' ? PREFIX : `${PREFIX}staging-${path.basename(this.target)}-`;
  }

  private isOurs(name: string): boolean {
    if (this.layout === 'inside') return name.startsWith(PREFIX);
    const base = path.basename(this.target);
    return name.startsWith(`${PREFIX}staging-${base}-`) || name.startsWith(`${PREFIX}old-${base}-`) || name.startsWith(`${PREFIX}${base}.lock.`);
  }

  /** Staging, trash and heartbeat leftovers of dead runs (we hold the lock: nothing else of this target is live). */
  private async reclaim(): Promise<void> {
    const names = await readdir(this.home).catch(() => [] as string[]);
    for (const name of names) {
      if (!this.isOurs(name)) continue;
      const p = path.join(this.home, name);
      // The receipt and its signature (`<receipt>.sigstore.json`) describe the placed model: kept.
      if (p === this.lock.file || p === this.receiptPath || p === receiptBundlePath(this.receiptPath)) continue;
      await removeTree(p);
    }
  }

  /** The target's entries that make up a model (not ours, not the filesystem's). */
  async modelEntries(): Promise<string[]> {
    const names = await readdir(this.target).catch(() => [] as string[]);
    return names.filter((n) => !(this.layout === 'inside' && (n.startsWith(PREFIX) || FILESYSTEM_ENTRIES.has(n)))).sort();
  }

  /** Names inside the target that are ours or the filesystem's: skipped when re-verifying in place. */
  async hiddenEntries(): Promise<string[]> {
    if (this.layout === 'beside') return [];
    const names = await readdir(this.target).catch(() => [] as string[]);
    return names.filter((n) => n.startsWith(PREFIX) || FILESYSTEM_ENTRIES.has(n));
  }

  /** A fresh 0700 staging directory on the target's filesystem. */
  async stage(): Promise<Staging> {
    const base = path.join(this.home, this.layout === 'inside' ? `${PREFIX}staging-` : this.ours);
    const dir = await mkdtemp(base).catch((err) => Promise.reject(fsError(err, this.home, 'create the staging directory in')));
    live.add(dir);
    await chmod(dir, 0o700);
    return new Staging(dir, this);
  }

  /** Seal the staged tree read-only and swap it in; the receipt comes after (writeReceipt). */
  async commit(staging: Staging): Promise<string> {
    await seal(staging.dir, this.layout === 'beside');
    await unlink(this.receiptPath).catch(() => undefined);
    await unlink(receiptBundlePath(this.receiptPath)).catch(() => undefined);
    const trash = path.join(this.home, `${PREFIX}old-${this.layout === 'inside' ? '' : path.basename(this.target) + '-'}${randomBytes(6).toString('hex')}`);
    if (this.layout === 'beside') {
      const existing = await lstat(this.target).catch(() => undefined);
      if (existing) await rename(this.target, trash);
      await rename(staging.dir, this.target);
    } else {
      await mkdir(trash, { mode: 0o700 });
      for (const name of await this.modelEntries()) await moveEntry(path.join(this.target, name), path.join(trash, name), 0o700);
      for (const name of await readdir(staging.dir)) await moveEntry(path.join(staging.dir, name), path.join(this.target, name), 0o555);
      await rmdir(staging.dir);
    }
    live.delete(staging.dir);
    await removeTree(trash);
    return this.target;
  }

  /**
   * The tree the receipt must stay out of (for writeReceiptFile): the target, except for a mount
   * point's hidden receipt, which has nowhere else to go and which re-verification skips.
   */
  get receiptTree(): string | undefined {
    return this.layout === 'inside' && this.receiptPath === path.join(this.target, INSIDE_RECEIPT) ? undefined : this.target;
  }

  async release(): Promise<void> {
    await this.lock.release();
  }
}

export class Staging {
  constructor(
    readonly dir: string,
    private readonly placement: Placement,
  ) {}

  /**
   * Refuse up front when the filesystem cannot hold `bytes` more: a clear reason before the
   * download instead of ENOSPC hours into it (and a node's disk filled by a model that never fits).
   */
  async assertRoom(bytes: number): Promise<void> {
    const fs = await statfs(this.dir);
    const free = fs.bavail * fs.bsize;
    if (bytes > free) {
      throw new ModelsealError('IO', `not enough space in ${path.dirname(this.dir)}: the model needs ${gib(bytes)}, ${gib(free)} is free; give the volume more room (emptyDir sizeLimit, PVC size) or free space`, {
        details: { needed: bytes, free },
      });
    }
  }

  /** Absolute path in staging for a (validated) model-relative path. */
  pathFor(rel: string): string {
    const p = path.resolve(this.dir, ...rel.split('/'));
    if (!p.startsWith(this.dir + path.sep)) throw new ModelsealError('PATH_UNSAFE', `refusing to stage ${JSON.stringify(rel)} outside the staging directory`);
    return p;
  }

  commit(): Promise<string> {
    return this.placement.commit(this);
  }

  async discard(): Promise<void> {
    await removeTree(this.dir);
    live.delete(this.dir);
  }
}

/** Receipts are written atomically (temp + rename) and never inside the verified tree (when one is named). */
export async function writeReceiptFile(file: string, json: string, verifiedTree: string | undefined): Promise<void> {
  const abs = path.resolve(file);
  const tree = verifiedTree === undefined ? undefined : path.resolve(verifiedTree);
  if (tree !== undefined && (abs === tree || abs.startsWith(tree + path.sep))) {
    throw new ModelsealError('CONFIG_INVALID', `receipt ${file} must be outside the verified model directory ${verifiedTree}`);
  }
  try {
    await mkdir(path.dirname(abs), { recursive: true });
    const tmp = `${abs}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, json, { mode: 0o444 });
    await rename(tmp, abs);
  } catch (err) {
    throw fsError(err, path.dirname(abs), 'write the receipt in');
  }
}

/** A mount point's device differs from its parent's (or it is `/`). */
async function isMountPoint(dir: string): Promise<boolean> {
  const parent = path.dirname(dir);
  if (parent === dir) return true;
  const [a, b] = await Promise.all([stat(dir), stat(parent)]);
  return a.dev !== b.dev;
}

/**
 * Move one entry to another directory. A directory that changes parent must be writable by its
 * owner (its `..` changes; EACCES for a non-root uid on a sealed 0555 directory): open it for the
 * move, then give it `modeAfter`.
 */
async function moveEntry(from: string, to: string, modeAfter: number): Promise<void> {
  const st = await lstat(from);
  if (st.isDirectory()) await chmod(from, 0o700);
  await rename(from, to);
  if (st.isDirectory()) await chmod(to, modeAfter);
}

/** Files 0444, directories 0555 (the target root itself only when it is ours to seal: not a mount point). */
async function seal(dir: string, sealRoot: boolean): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await seal(p, true);
    else await chmod(p, 0o444);
  }
  if (sealRoot) await chmod(dir, 0o555);
}

/** rm -rf that first makes sealed (0555) directories writable again. */
export async function removeTree(p: string): Promise<void> {
  const unseal = async (d: string): Promise<void> => {
    await chmod(d, 0o700).catch(() => undefined);
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await unseal(path.join(d, e.name));
  };
  const st = await lstat(p).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await unseal(p);
  await rm(p, { recursive: true, force: true });
}

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
