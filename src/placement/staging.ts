import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';

/**
 * A staging directory beside the target, on the same filesystem so the final step is one
 * rename. Mode 0700 so nothing else can read unverified bytes while they arrive.
 */
export class Staging {
  private constructor(
    readonly dir: string,
    private readonly target: string,
  ) {}

  static async create(target: string): Promise<Staging> {
    const abs = path.resolve(target);
    const parent = path.dirname(abs);
    await mkdir(parent, { recursive: true });
    await assertReplaceable(abs);
    const dir = await mkdtemp(path.join(parent, `.modelseal-staging-${path.basename(abs)}-`));
    await chmod(dir, 0o700);
    return new Staging(dir, abs);
  }

  /**
   * Refuse up front when the filesystem cannot hold `bytes` more: a clear reason before the
   * download instead of ENOSPC hours into it (and a node's disk filled by a model that never fits).
   */
  async assertRoom(bytes: number): Promise<void> {
    const fs = await statfs(this.dir);
    const free = fs.bavail * fs.bsize;
    if (bytes > free) {
      throw new ModelsealError('IO', `not enough space in ${path.dirname(this.dir)}: the model needs ${gib(bytes)}, ${gib(free)} is free`, {
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

  /** Make everything read-only (files 0444, directories 0555), then rename into place. */
  async commit(): Promise<string> {
    await seal(this.dir);
    const existing = await lstat(this.target).catch(() => undefined);
    if (existing) {
      // An empty directory (e.g. made by a volume mount's parent) is replaced; anything else was refused in create().
      await rmdir(this.target);
    }
    await rename(this.dir, this.target);
    return this.target;
  }

  async discard(): Promise<void> {
    await unsealForRemoval(this.dir);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function assertReplaceable(target: string): Promise<void> {
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw new ModelsealError('CONFIG_INVALID', `target ${target} exists and is not a directory`);
  if ((await readdir(target)).length > 0) {
    throw new ModelsealError('CONFIG_INVALID', `target ${target} is not empty; pull into a new or empty directory`);
  }
}

async function seal(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await seal(p);
    else await chmod(p, 0o444);
  }
  await chmod(dir, 0o555);
}

async function unsealForRemoval(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await unsealForRemoval(path.join(dir, e.name));
}

/** Receipts are written atomically (temp + rename) and never inside the verified tree. */
export async function writeReceiptFile(file: string, json: string, verifiedTree: string): Promise<void> {
  const abs = path.resolve(file);
  const tree = path.resolve(verifiedTree);
  if (abs === tree || abs.startsWith(tree + path.sep)) {
    throw new ModelsealError('CONFIG_INVALID', `receipt ${file} must be outside the verified model directory ${verifiedTree}`);
  }
  await mkdir(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, json, { mode: 0o444 });
  await rename(tmp, abs);
}

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
