import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { isIgnored } from './names.js';

export interface ModelFile {
  /** Model-relative POSIX path (`.` for a single-file model, trap T5 is handled by callers). */
  rel: string;
  /** Absolute path to open (for an allowed symlink: the link, which open() follows). */
  abs: string;
  size: number;
}

export interface WalkOptions {
  allowSymlinks: boolean;
  /** Model-relative paths to skip (signature file, git paths, user and predicate ignores). */
  ignorePaths: readonly string[];
}

/**
 * The files of a model, sorted by code point. Regular files only; sockets, FIFOs and devices
 * are errors (spec §6.1). Symlinks are refused unless allowed, and even then a link whose
 * target leaves the model root is refused: the reference tool would hash whatever it points at.
 */
export async function listModelFiles(root: string, opts: WalkOptions): Promise<ModelFile[]> {
  const top = await lstat(root).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read model path ${root}: ${err.message}`);
  });
  if (top.isFile()) return [{ rel: path.basename(root), abs: path.resolve(root), size: top.size }];
  if (!top.isDirectory()) throw new ModelsealError('FILE_TYPE_UNSUPPORTED', `model path ${root} is not a directory or a regular file`);

  const realRoot = await realpath(root);
  const out: ModelFile[] = [];
  const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
    const entries = await readdir(dirAbs, { withFileTypes: true });
    for (const e of entries) {
      const rel = dirRel === '' ? e.name : `${dirRel}/${e.name}`;
      if (isIgnored(rel, opts.ignorePaths)) continue;
      const abs = path.join(dirAbs, e.name);
      if (e.isSymbolicLink()) {
        if (!opts.allowSymlinks) {
          throw new ModelsealError('SYMLINK_REJECTED', `${rel} is a symlink; pass --allow-symlinks to follow links inside the model`);
        }
        const target = await realpath(abs).catch(() => {
          throw new ModelsealError('FILE_MISSING', `${rel} is a broken symlink`);
        });
        if (target !== realRoot && !target.startsWith(realRoot + path.sep)) {
          throw new ModelsealError('SYMLINK_REJECTED', `${rel} links outside the model root (${target})`);
        }
        const st = await stat(target);
        if (st.isDirectory()) await walk(abs, rel);
        else if (st.isFile()) out.push({ rel, abs, size: st.size });
        else throw new ModelsealError('FILE_TYPE_UNSUPPORTED', `${rel} links to something that is not a regular file`);
      } else if (e.isDirectory()) {
        await walk(abs, rel);
      } else if (e.isFile()) {
        const st = await lstat(abs);
        out.push({ rel, abs, size: st.size });
      } else {
        throw new ModelsealError('FILE_TYPE_UNSUPPORTED', `${rel} is not a regular file (socket, FIFO or device)`);
      }
    }
  };
  await walk(root, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
