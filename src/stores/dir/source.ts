import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { GIT_IGNORE_PATHS } from '../../model/names.js';
import { insideTree, SIGNATURE_FILE } from '../../model/scope.js';
import { listModelFiles } from '../../model/walk.js';
import { readBundleFile } from '../../signatures/bundle-file.js';
import { candidateOf } from '../../signatures/candidate.js';
import { forEachLimit } from '../concurrency.js';
import type { ModelSource, ResolvedSource, SignatureCandidate, SourceEntry } from '../types.js';

export interface DirSourceOptions {
  signaturePath?: string;
  allowSymlinks?: boolean;
  /** Leave out top-level git paths (default true: a local tree, as `model_signing`). */
  ignoreGitPaths?: boolean;
}

/**
 * A model in a local directory (a mounted volume, a cache): the same pipeline as remote sources.
 * It lists every file but the signature it reads; which files are the model is the ModelScope's
 * call (the signer's ignore list, git paths), made by the pipeline.
 */
export function createDirSource(dir: string, opts: DirSourceOptions = {}): ModelSource {
  const root = path.resolve(dir);
  const sigPath = opts.signaturePath ?? path.join(root, SIGNATURE_FILE);
  const sigRel = insideTree(root, sigPath);
  return {
    async resolve(): Promise<ResolvedSource> {
      const st = await stat(root).catch(() => undefined);
      if (!st?.isDirectory()) throw new ModelsealError('NOT_FOUND', `model directory ${dir} does not exist`);
      return { reference: dir, tree: { signatureFiles: sigRel ? [sigRel] : [], gitPaths: opts.ignoreGitPaths ?? true } };
    },
    async signatures(): Promise<SignatureCandidate[]> {
      return [candidateOf('oms', sigPath, await readBundleFile(sigPath))];
    },
    async list(): Promise<SourceEntry[]> {
      // Git internals are never walked in a local tree that leaves them out (they may hold links).
      const skip = [...(sigRel ? [sigRel] : []), ...((opts.ignoreGitPaths ?? true) ? GIT_IGNORE_PATHS : [])];
      const files = await listModelFiles(root, { allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: skip });
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
