import { Option, type Command } from 'commander';
import { ModelsealError } from '../errors.js';
import { DEFAULT_SHARD_SIZE } from '../model/serialize.js';
import type { HashAlgorithm, SerializationMethod } from '../model/types.js';
import type { TrustInput } from '../trust/types.js';

export { METHODS, type Method } from '../trust/types.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flags naming who is trusted (cosign/model_signing spellings). */
export function addTrustFlags(cmd: Command, withPolicy = true): Command {
  cmd
    .option('--public-key <file>', 'PEM public key (key method)')
    .option('--cert-chain <file...>', 'trust anchor certificates, PEM (certificate method)')
    .option('--identity <san>', 'exact signer identity (keyless)')
    .option('--identity-regexp <re>', 'signer identity regexp, anchored at both ends (keyless)')
    .option('--identity-provider <url>', 'OIDC issuer of the signer identity (keyless)')
    .option('--trust-root <file>', 'trusted_root.json or ClientTrustConfig (keyless; default: bundled public-good root)')
    .option('--tsa-cert-chain <file...>', 'trusted RFC 3161 TSA chain(s), PEM, TSA certificate first (key/certificate bundles with timestamps)');
  if (withPolicy) cmd.option('--policy <file>', 'trust policy file; decides the authorities instead of the flags above');
  return cmd;
}

/** The trust flags as commander hands them over: exactly the resolver's input. */
export type TrustFlags = TrustInput;

/** Flags that shape hashing (model_signing names). */
export function addSerializationFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--serialization <method>', 'files or shards').choices(['files', 'shards']).default('files'))
    .option('--shard-size <bytes>', 'shard size for --serialization shards', String(DEFAULT_SHARD_SIZE))
    .addOption(new Option('--hash <alg>', 'hash algorithm').choices(['sha256', 'blake2b', 'blake3']).default('sha256'));
}

export function addPathFlags(cmd: Command): Command {
  return cmd
    .option('--ignore-paths <path...>', 'model-relative (or absolute) paths to leave out', collect)
    .option('--no-ignore-git-paths', 'also hash .git, .gitignore, .gitattributes, .github, .gitmodules')
    .option('--allow-symlinks', 'follow symlinks that stay inside the model directory', false);
}

export interface SerializationFlags {
  serialization: SerializationMethod;
  shardSize: string;
  hash: HashAlgorithm;
}

export function shardSizeOf(f: SerializationFlags): number {
  const n = Number(f.shardSize);
  if (!Number.isSafeInteger(n) || n < 1) throw new ModelsealError('USAGE', `--shard-size must be a positive integer, not ${f.shardSize}`);
  return n;
}

