import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { hasSignatureFile, signingScope, SIGNATURE_FILE } from '../model/scope.js';
import { serializeDirectory } from '../model/serialize.js';
import type { HashAlgorithm, Manifest, SerializationMethod } from '../model/types.js';

export interface SigningRequest {
  /** A model directory or a single file. */
  model: string;
  /** Where the bundle will be written (left out of the manifest when inside the model). */
  signaturePath?: string;
  method: SerializationMethod;
  hashType: HashAlgorithm;
  shardSize?: number;
  ignorePaths?: readonly string[];
  ignoreGitPaths: boolean;
  allowSymlinks: boolean;
}

export async function isDirectory(model: string): Promise<boolean> {
  const st = await stat(model).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('NOT_FOUND', `model path ${model} does not exist (${err.code ?? err.message})`);
  });
  return st.isDirectory();
}

/** `<model>/model.sig`, or beside a single-file model. */
export function defaultSignaturePath(model: string, isDir: boolean): string {
  return isDir ? path.join(model, SIGNATURE_FILE) : path.join(path.dirname(model), SIGNATURE_FILE);
}

/**
 * The manifest a signature is made over: spec (code-point) order, and everything the signing
 * scope leaves out (git paths, signature files, the caller's paths) recorded as ignored, so a
 * verifier reading the bundle leaves out exactly the same.
 */
export async function manifestForSigning(req: SigningRequest): Promise<Manifest> {
  const isDir = await isDirectory(req.model);
  const scope = isDir
    ? signingScope(req.model, { signaturePath: req.signaturePath, user: req.ignorePaths, gitPaths: req.ignoreGitPaths, existingSignatureFile: await hasSignatureFile(req.model) })
    : undefined;
  return serializeDirectory(req.model, {
    method: req.method,
    hashType: req.hashType,
    shardSize: req.method === 'shards' ? req.shardSize : undefined,
    allowSymlinks: req.allowSymlinks,
    ignorePaths: [...(scope?.ignores ?? [])],
  });
}
