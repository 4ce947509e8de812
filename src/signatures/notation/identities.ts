import type { X509Certificate } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { oneLineName } from '../core/x509-facts.js';
import { parseDn, subjectAttributes, type Rdn } from './subject-name.js';

const PREFIX = 'x509.subject:';
/** A trusted identity must pin at least country, state and organisation (trust-store-trust-policy.md). */
const REQUIRED = ['C', 'ST', 'O'];

export type TrustedIdentities = { any: true } | { any: false; subjects: Rdn[][] };

/** Validate `trustedIdentities` as a policy must write them: `*` alone, or `x509.subject:` DNs. */
export function parseTrustedIdentities(list: string[], where: string): TrustedIdentities {
  if (list.length === 0) throw new ModelsealError('POLICY_INVALID', `${where}: trustedIdentities is empty (use "*" to trust any identity the trust store vouches for)`);
  if (list.includes('*')) {
    if (list.length !== 1) throw new ModelsealError('POLICY_INVALID', `${where}: "*" must be the only trusted identity`);
    return { any: true };
  }
  const subjects = list.map((entry) => {
    if (!entry.startsWith(PREFIX)) throw new ModelsealError('POLICY_INVALID', `${where}: trusted identity ${JSON.stringify(entry)} must start with ${PREFIX}`);
    const rdns = parseDn(entry.slice(PREFIX.length));
    const types = rdns.map((r) => r.type);
    if (new Set(types).size !== types.length) throw new ModelsealError('POLICY_INVALID', `${where}: trusted identity ${JSON.stringify(entry)} names an attribute twice`);
    const missing = REQUIRED.filter((t) => !types.includes(t));
    if (missing.length) throw new ModelsealError('POLICY_INVALID', `${where}: trusted identity ${JSON.stringify(entry)} must name ${missing.join(', ')}`);
    return rdns;
  });
  return { any: false, subjects };
}

/** Every attribute the identity names equals one of the leaf subject's (a subset match, as notation-go). */
export function checkTrustedIdentity(leaf: X509Certificate, identities: TrustedIdentities): void {
  if (identities.any) return;
  const have = subjectAttributes(leaf);
  const ok = identities.subjects.some((rdns) => rdns.every((r) => have.some((h) => h.type === r.type && h.value === r.value)));
  if (!ok) {
    throw new ModelsealError('IDENTITY_MISMATCH', `signing certificate ${oneLineName(leaf.subject)} does not match the trusted identities`, {
      details: { check: 'authenticity' },
    });
  }
}
