import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import type { HashPool } from '../hashing/pool.js';
import { assertReportClean, compareResources, type ComparisonReport } from '../model/compare.js';
import { GIT_IGNORE_PATHS } from '../model/names.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import type { Manifest } from '../model/types.js';
import { listModelFiles, type ModelFile } from '../model/walk.js';
import type { Authority, VerifiedModelSignature } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';

/** Bundles are small JSON documents; anything larger is hostile (or not a bundle). */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

export interface LocalVerifyOptions {
  /** A model directory, or a single model file. */
  modelPath: string;
  /** Default: `model.sig` inside the model directory (beside a single-file model). */
  signaturePath?: string;
  authorities: Authority[];
  /** Model-relative paths to skip, on top of the predicate's and the git defaults. */
  ignorePaths?: string[];
  /** Leave out .git, .gitignore, … (default true, as the reference tool). */
  ignoreGitPaths?: boolean;
  ignoreUnsignedFiles?: boolean;
  allowSymlinks?: boolean;
  pool?: HashPool;
}

export interface LocalVerifyResult {
  verified: VerifiedModelSignature;
  /** The signed manifest with single-file `"."` names mapped onto the file actually checked. */
  manifest: Manifest;
  report: ComparisonReport;
  files: ModelFile[];
  bundleText: string;
  signaturePath: string;
}

export function defaultSignaturePath(modelPath: string, isDir: boolean): string {
  return isDir ? path.join(modelPath, 'model.sig') : path.join(path.dirname(modelPath), 'model.sig');
}

export async function readBundleFile(file: string): Promise<Buffer> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('SIGNATURE_MISSING', `cannot read signature ${file}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw new ModelsealError('SIGNATURE_MISSING', `signature ${file} is not a regular file`);
  if (st.size > MAX_BUNDLE_BYTES) throw new ModelsealError('BUNDLE_TOO_LARGE', `signature ${file} is ${st.size} bytes (limit ${MAX_BUNDLE_BYTES})`);
  return readFile(file);
}

/**
 * A single-file model is signed under the name `"."` by the reference tool and under its
 * basename by the spec and Go (trap T5). Map `"."` onto the name the file is checked under.
 */
export function mapSingleFileNames(m: Manifest, fileName: string): Manifest {
  const isDot = (n: string) => n === '.' || n.startsWith('.:');
  if (!m.resources.every((r) => isDot(r.name))) return m;
  return { ...m, resources: m.resources.map((r) => ({ ...r, name: fileName + r.name.slice(1) })) };
}

/** The signed manifest as seen against a listing: a lone listed file is what a `"."` signature names (trap T5). */
export function manifestForListing(m: Manifest, paths: string[]): Manifest {
  return paths.length === 1 ? mapSingleFileNames(m, paths[0]!) : m;
}

/** Everything excluded from a local check: caller's, signer's (trap T16), git, and the signature itself. */
export function ignoreSet(modelDir: string, signaturePath: string, m: Manifest, extra: string[] = [], gitPaths = true): string[] {
  const out = new Set<string>([...extra, ...m.serialization.ignorePaths, ...(gitPaths ? GIT_IGNORE_PATHS : [])]);
  const rel = path.relative(path.resolve(modelDir), path.resolve(signaturePath));
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) out.add(rel.split(path.sep).join('/'));
  return [...out];
}

/** Verify a model on local disk against its detached signature: signature first, then every byte. */
export async function verifyLocalModel(opts: LocalVerifyOptions): Promise<LocalVerifyResult> {
  const st = await stat(opts.modelPath).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('NOT_FOUND', `model path ${opts.modelPath} does not exist (${err.code})`);
  });
  const isDir = st.isDirectory();
  const signaturePath = opts.signaturePath ?? defaultSignaturePath(opts.modelPath, isDir);
  const bundle = await readBundleFile(signaturePath);
  const verified = await verifyModelSignature(bundle, opts.authorities);

  let manifest = verified.manifest;
  // A single-file signature checked against its directory: the file is the subject name.
  const singleInDir = isDir && manifest.resources.every((r) => r.name === '.' || r.name.startsWith('.:'));
  manifest = mapSingleFileNames(manifest, isDir ? manifest.modelName : path.basename(opts.modelPath));

  const modelDir = isDir ? opts.modelPath : path.dirname(opts.modelPath);
  const ignores = ignoreSet(modelDir, signaturePath, manifest, opts.ignorePaths, opts.ignoreGitPaths ?? true);
  const files = isDir
    ? await listModelFiles(opts.modelPath, { allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: ignores })
    : await listModelFiles(opts.modelPath, { allowSymlinks: false, ignorePaths: [] });
  if (singleInDir && !files.some((f) => f.rel === manifest.modelName)) {
    throw new ModelsealError('FILE_MISSING', `signed file missing: ${manifest.modelName}`);
  }
  const s = manifest.serialization;
  const actual = await hashModelFiles(files, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE, opts.pool);
  const report = compareResources(manifest, actual, { ignoreUnsignedFiles: opts.ignoreUnsignedFiles ?? false });
  assertReportClean(report);
  return { verified, manifest, report, files, bundleText: bundle.toString('utf8'), signaturePath };
}
