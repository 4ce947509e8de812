import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { GIT_IGNORE_PATHS } from '../../model/names.js';
import { listModelFiles } from '../../model/walk.js';
import { readBundleFile } from '../../app/verify.js';
import { forEachLimit } from '../concurrency.js';
import type { ModelSource, ResolvedSource, SignatureCandidate, SourceEntry } from '../types.js';

export interface DirSourceOptions {
  signaturePath?: string;
  allowSymlinks?: boolean;
  ignorePaths?: string[];
}

/** A model in a local directory (a mounted volume, a cache): the same pipeline as remote sources. */
export function createDirSource(dir: string, opts: DirSourceOptions = {}): ModelSource {
  const root = path.resolve(dir);
  const sigPath = opts.signaturePath ?? path.join(root, 'model.sig');
  const sigRel = path.relative(root, path.resolve(sigPath)).split(path.sep).join('/');
  return {
    async resolve(): Promise<ResolvedSource> {
      const st = await stat(root).catch(() => undefined);
      if (!st?.isDirectory()) throw new ModelsealError('NOT_FOUND', `model directory ${dir} does not exist`);
      return { reference: dir };
    },
    async signatures(): Promise<SignatureCandidate[]> {
      return [{ kind: 'oms', origin: sigPath, bytes: await readBundleFile(sigPath) }];
    },
    async list(): Promise<SourceEntry[]> {
      const ignore = [...GIT_IGNORE_PATHS, ...(opts.ignorePaths ?? [])];
      if (!sigRel.startsWith('..')) ignore.push(sigRel);
      const files = await listModelFiles(root, { allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: ignore });
      return files.map((f) => ({ path: f.rel, size: f.size }));
    },
    async fetch(wanted, sink, { concurrency }) {
      await forEachLimit(wanted, concurrency, (e) =>
        sink({ path: e.path, size: e.size, stream: createReadStream(path.join(root, ...e.path.split('/')), { highWaterMark: 1 << 20 }) }),
      );
    },
    async close() {},
  };
}
