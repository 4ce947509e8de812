import { ModelsealError } from '../../errors.js';

/**
 * What a blob signature is checked against: a file (hashed as a stream), or only its SHA-256, as
 * cosign and sigstore-python accept `sha256:<hex>` for an artefact an auditor knows by digest.
 */
export type BlobTarget = { kind: 'file'; path: string } | { kind: 'digest'; sha256: Buffer };

const DIGEST_ARGUMENT = /^sha256:([0-9a-fA-F]{64})$/;

/**
 * A command-line argument as a target. `sha256:<64 hex>` always means a digest (never a file of
 * that name: write `./sha256:…` for one), so what is checked never depends on the working directory.
 */
export function blobTarget(argument: string): BlobTarget {
  const m = DIGEST_ARGUMENT.exec(argument);
  if (m) return { kind: 'digest', sha256: Buffer.from(m[1]!.toLowerCase(), 'hex') };
  if (argument.startsWith('sha256:')) throw new ModelsealError('USAGE', `${JSON.stringify(argument)} is not sha256:<64 hex digits> (prefix a file of that name with ./)`);
  return { kind: 'file', path: argument };
}

export function describeTarget(target: BlobTarget): string {
  return target.kind === 'file' ? target.path : `sha256:${target.sha256.toString('hex')}`;
}
