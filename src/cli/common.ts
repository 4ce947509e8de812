import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ModelsealError } from '../errors.js';
import { GIT_IGNORE_PATHS } from '../model/names.js';
import { DEFAULT_SHARD_SIZE } from '../model/serialize.js';
import type { HashAlgorithm, SerializationMethod } from '../model/types.js';
import type { ModelRule, TrustPolicy } from '../trust/policy/types.js';
import { loadCertificates, loadPublicKeys } from '../signatures/core/keys.js';
import { loadTrustedRootFile } from '../trust/roots/load.js';
import type { Authority } from '../signatures/core/types.js';

export type Method = 'key' | 'certificate' | 'sigstore';
export const METHODS: readonly Method[] = ['key', 'certificate', 'sigstore'];

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flags naming who is trusted (cosign/model_signing spellings). */
export function addTrustFlags(cmd: Command, withPolicy = true): Command {
  cmd
    .option('--public-key <file>', 'PEM public key (key method)')
    .option('--cert-chain <file...>', 'trust anchor certificates, PEM (certificate method)')
    .option('--identity <san>', 'exact signer identity (keyless)')
    .option('--identity-regexp <re>', 'signer identity regexp, anchored at both ends (keyless)')
    .option('--identity-provider <url>', 'OIDC issuer of the signer identity (keyless)')
    .option('--trust-root <file>', 'trusted_root.json or ClientTrustConfig (keyless; default: bundled public-good root)');
  if (withPolicy) cmd.option('--policy <file>', 'trust policy file; decides the authorities instead of the flags above');
  return cmd;
}

export interface TrustFlags {
  publicKey?: string;
  certChain?: string[];
  identity?: string;
  identityRegexp?: string;
  identityProvider?: string;
  trustRoot?: string;
  policy?: string;
}

/** Authorities from explicit flags for one method. */
export async function authoritiesFromFlags(method: Method, f: TrustFlags): Promise<Authority[]> {
  switch (method) {
    case 'key': {
      if (!f.publicKey) throw new ModelsealError('USAGE', 'verify key needs --public-key');
      const pem = await readFile(f.publicKey, 'utf8').catch(() => {
        throw new ModelsealError('KEY_INVALID', `cannot read public key ${f.publicKey}`);
      });
      return [{ kind: 'key', name: path.basename(f.publicKey), publicKeys: loadPublicKeys(pem, f.publicKey) }];
    }
    case 'certificate': {
      if (!f.certChain?.length) throw new ModelsealError('USAGE', 'verify certificate needs --cert-chain with the trust anchor(s); there is no silent fallback to system roots');
      const anchors = [];
      for (const file of f.certChain) {
        const pem = await readFile(file, 'utf8').catch(() => {
          throw new ModelsealError('KEY_INVALID', `cannot read certificate ${file}`);
        });
        anchors.push(...loadCertificates(pem, file));
      }
      return [{ kind: 'certificate', name: 'cert-chain', anchors }];
    }
    case 'sigstore': {
      if ((f.identity === undefined) === (f.identityRegexp === undefined)) {
        throw new ModelsealError('USAGE', 'verify sigstore needs exactly one of --identity, --identity-regexp');
      }
      if (!f.identityProvider) throw new ModelsealError('USAGE', 'verify sigstore needs --identity-provider (the OIDC issuer)');
      if (f.identityRegexp !== undefined) {
        try {
          new RegExp(`^(?:${f.identityRegexp})$`);
        } catch (err) {
          throw new ModelsealError('USAGE', `--identity-regexp is not a valid regular expression: ${(err as Error).message}`);
        }
      }
      return [
        {
          kind: 'sigstore',
          name: 'keyless',
          trustedRoot: await loadTrustedRootFile(f.trustRoot),
          identity: f.identity !== undefined ? { exact: f.identity } : { regexp: f.identityRegexp! },
          issuer: f.identityProvider,
        },
      ];
    }
  }
}

export interface TrustDecision {
  authorities: Authority[];
  policy?: TrustPolicy;
  rule?: ModelRule;
}

/** A policy file decides when given (and then no method flags may be mixed in); else the flags do. */
export async function resolveTrust(reference: string, method: Method | undefined, f: TrustFlags): Promise<TrustDecision> {
  if (f.policy) {
    const mixed = ['publicKey', 'certChain', 'identity', 'identityRegexp', 'identityProvider'].filter((k) => f[k as keyof TrustFlags] !== undefined);
    if (mixed.length > 0) throw new ModelsealError('USAGE', `--policy decides the signers; do not combine it with --${mixed.map(kebab).join(', --')}`);
    // The policy stack (YAML parser, validators) loads only when a policy is given.
    const [{ loadPolicy }, { ruleFor }, { authoritiesFor }] = await Promise.all([
      import('../trust/policy/load.js'),
      import('../trust/policy/match.js'),
      import('../trust/policy/authorities.js'),
    ]);
    const policy = await loadPolicy(f.policy);
    const rule = ruleFor(policy, reference);
    return { authorities: await authoritiesFor(policy, rule), policy, rule };
  }
  if (!method) throw new ModelsealError('USAGE', 'name a method (key, certificate, sigstore) or pass --policy');
  return { authorities: await authoritiesFromFlags(method, f) };
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Flags that shape hashing (model_signing names). */
export function addSerializationFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--serialization <method>', 'files or shards').choices(['files', 'shards']).default('files'))
    .option('--shard-size <bytes>', 'shard size for --serialization shards', String(DEFAULT_SHARD_SIZE))
    .addOption(new Option('--hash <alg>', 'hash algorithm').choices(['sha256', 'blake2b']).default('sha256'));
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

/** Model-relative ignore paths: absolute ones are made relative to the model; ones outside it are refused. */
export function modelRelativeIgnores(modelDir: string, paths: string[] = [], gitPaths = true): string[] {
  const root = path.resolve(modelDir);
  const out = paths.map((p) => {
    if (!path.isAbsolute(p)) return p.replace(/^\.\//, '').replace(/\/+$/, '');
    const rel = path.relative(root, p);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ModelsealError('USAGE', `--ignore-paths ${p} is outside the model ${modelDir}`);
    return rel.split(path.sep).join('/');
  });
  return gitPaths ? [...GIT_IGNORE_PATHS, ...out] : out;
}
