import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import type { Authority } from '../verification/types.js';
import { loadTrustedRootFile } from '../verification/trust-input.js';
import type { AuthoritySpec, ModelRule, TrustPolicy } from './types.js';

async function readRelative(base: string, file: string, what: string): Promise<Buffer> {
  const abs = path.resolve(path.dirname(base), file);
  return readFile(abs).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('POLICY_INVALID', `${what} ${abs} named in policy ${base} cannot be read (${err.code})`);
  });
}

/** Split a PEM bundle into certificates. */
export function parseCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ModelsealError('KEY_INVALID', `${what} holds no PEM certificate`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ModelsealError('KEY_INVALID', `${what} holds an unreadable certificate: ${(err as Error).message}`);
    }
  });
}

async function buildAuthority(policy: TrustPolicy, name: string, spec: AuthoritySpec): Promise<Authority> {
  if ('key' in spec) {
    const pem = await readRelative(policy.source, spec.key.publicKey, 'public key');
    try {
      return { kind: 'key', name, publicKeys: [createPublicKey(pem)] };
    } catch (err) {
      throw new ModelsealError('POLICY_INVALID', `authority ${name}: public key is unreadable: ${(err as Error).message}`);
    }
  }
  if ('certificate' in spec) {
    const anchors = [];
    for (const r of spec.certificate.roots) anchors.push(...parseCertificates((await readRelative(policy.source, r, 'root')).toString(), r));
    return { kind: 'certificate', name, anchors };
  }
  const k = spec.keyless;
  const rootFile = k.trustedRoot === undefined ? undefined : path.resolve(path.dirname(policy.source), k.trustedRoot);
  return {
    kind: 'sigstore',
    name,
    trustedRoot: await loadTrustedRootFile(rootFile),
    identity: k.identity !== undefined ? { exact: k.identity } : { regexp: k.identityRegexp! },
    issuer: k.issuer,
  };
}

/** The authorities a rule trusts, loaded (keys parsed, roots read). */
export async function authoritiesFor(policy: TrustPolicy, rule: ModelRule): Promise<Authority[]> {
  return Promise.all(rule.authorities.map((n) => buildAuthority(policy, n, policy.authorities[n]!)));
}
