import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { loadCertificates, loadPublicKeys } from '../../signatures/core/keys.js';
import type { Authority } from '../../signatures/core/types.js';
import { loadTrustedRootFile } from '../roots/load.js';
import type { AuthoritySpec, ModelRule, TrustPolicy } from './types.js';

async function readRelative(base: string, file: string, what: string): Promise<Buffer> {
  const abs = path.resolve(path.dirname(base), file);
  return readFile(abs).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('POLICY_INVALID', `${what} ${abs} named in policy ${base} cannot be read (${err.code})`);
  });
}


async function buildAuthority(policy: TrustPolicy, name: string, spec: AuthoritySpec): Promise<Authority> {
  if ('key' in spec) {
    const pem = await readRelative(policy.source, spec.key.publicKey, 'public key');
    return { kind: 'key', name, publicKeys: loadPublicKeys(pem.toString('utf8'), `authority ${name} public key`) };
  }
  if ('notation' in spec) {
    const n = spec.notation;
    const certs = async (files: string[], what: string) => {
      const out = [];
      for (const f of files) out.push(...loadCertificates((await readRelative(policy.source, f, what)).toString(), f));
      return out;
    };
    return {
      kind: 'notation',
      name,
      trustStore: await certs(n.trustStore, 'Notation trust store certificate'),
      trustedIdentities: n.trustedIdentities,
      ...(n.tsaRoots ? { tsaRoots: await certs(n.tsaRoots, 'TSA root') } : {}),
      ...(n.signingAuthority ? { signingAuthority: true } : {}),
      ...(n.level ? { level: n.level } : {}),
      ...(n.verifyTimestamp ? { verifyTimestamp: n.verifyTimestamp } : {}),
    };
  }
  if ('certificate' in spec) {
    const anchors = [];
    for (const r of spec.certificate.roots) anchors.push(...loadCertificates((await readRelative(policy.source, r, 'root')).toString(), r));
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
