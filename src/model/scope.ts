import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { GIT_IGNORE_PATHS, isIgnored } from './names.js';

/**
 * The one owner of "which files are the model". Every command — sign, digest, publish, attach,
 * pull, verify, verify-in-place, audit, sbom — asks a ModelScope instead of assembling its own
 * ignore list, so the answer cannot drift between signing and verifying.
 *
 * What is left out, and why:
 * - the signer's ignore list from the verified bundle (the signer said those are not the model);
 * - for a local tree only: the caller's `--ignore-paths`, and the top-level git paths unless
 *   `--no-ignore-git-paths` (as `model_signing` does);
 * - the signature file(s) actually read from inside the tree (never a name that merely looks like
 *   one: a `model.sig/` directory or a `model.sig` in a model whose signature came from a
 *   registry is model content, and counts as such).
 * When signing, the default `model.sig` is left out too (an old signature is never signed as a
 * model file), and everything left out is recorded in the predicate's ignore list.
 */
export const SIGNATURE_FILE = 'model.sig';

export interface ModelScope {
  /** Model-relative POSIX paths left out (a path or anything under it). */
  readonly ignores: readonly string[];
  isModelFile(rel: string): boolean;
}

export interface ScopeParts {
  /** The verified bundle's ignore list (trap T16: signer-controlled, and honoured). */
  signed?: readonly string[];
  /** Model-relative paths the caller leaves out (local trees only). */
  user?: readonly string[];
  /** Leave out the top-level git paths (local trees only). */
  gitPaths?: boolean;
  /** Model-relative paths of signature files read from inside the tree. */
  signatureFiles?: readonly string[];
}

export function modelScope(parts: ScopeParts): ModelScope {
  const ignores = [
    ...new Set([...(parts.signed ?? []), ...(parts.user ?? []), ...(parts.gitPaths ? GIT_IGNORE_PATHS : []), ...(parts.signatureFiles ?? [])]),
  ].filter((p) => p !== '' && p !== '.');
  return { ignores, isModelFile: (rel) => !isIgnored(rel, ignores) };
}

/** `p` relative to `root` in POSIX form, or undefined when it is not strictly inside it. */
export function insideTree(root: string, p: string): string | undefined {
  const rel = path.relative(path.resolve(root), path.resolve(p));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}

/** Caller-given ignore paths made model-relative: absolute ones must lie inside the model. */
export function modelRelativePaths(modelDir: string, paths: readonly string[] = []): string[] {
  return paths.map((p) => {
    if (!path.isAbsolute(p)) return p.replace(/^\.\//, '').replace(/\/+$/, '');
    const rel = insideTree(modelDir, p);
    if (rel === undefined) throw new ModelsealError('USAGE', `--ignore-paths ${p} is outside the model ${modelDir}`);
    return rel;
  });
}

/**
 * The scope a signature is made over: what it leaves out is recorded in the predicate. A
 * `model.sig` file already in the tree (an earlier signature) is left out and recorded; the name is
 * not reserved otherwise, so a `model.sig/` directory made later is model content.
 */
export function signingScope(
  modelDir: string,
  o: { signaturePath?: string; user?: readonly string[]; gitPaths: boolean; existingSignatureFile?: boolean },
): ModelScope {
  const sig = o.signaturePath === undefined ? undefined : insideTree(modelDir, o.signaturePath);
  const signatureFiles = [...(o.existingSignatureFile ? [SIGNATURE_FILE] : []), ...(sig ? [sig] : [])];
  return modelScope({ user: modelRelativePaths(modelDir, o.user), gitPaths: o.gitPaths, signatureFiles });
}

/** Whether the tree already holds a `model.sig` regular file (an earlier signature). */
export async function hasSignatureFile(modelDir: string): Promise<boolean> {
  const st = await lstat(path.join(modelDir, SIGNATURE_FILE)).catch(() => undefined);
  return st?.isFile() ?? false;
}

/**
 * Ignore-list entries that describe a signer's working tree by convention (git metadata, the
 * default signature file) rather than a choice about the model. A placed model never holds them,
 * so an audit of a deployment does not skip them: one that appears later was added.
 */
export function isConventionalIgnore(p: string): boolean {
  const bare = p.replace(/\/+$/, '');
  return bare === SIGNATURE_FILE || (GIT_IGNORE_PATHS as readonly string[]).includes(bare);
}
