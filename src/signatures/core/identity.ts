import { ModelsealError } from '../../errors.js';
import type { Authority } from './types.js';

type SigstoreAuthority = Extract<Authority, { kind: 'sigstore' }>;

/** What a Fulcio certificate says about its holder, as @sigstore/verify extracts it. */
export interface CertificateClaims {
  subjectAlternativeName?: string;
  /** OIDC issuer from extension 1.3.6.1.4.1.57264.1.8, else the legacy .1.1. */
  issuer?: string;
}

const compiled = new Map<string, RegExp>();

/**
 * A policy regexp always matches the whole SAN. sigstore-js uses `String.match`, unanchored
 * (pitfall 1: `alice@example\.com` also matches `malice@example.com.evil`); a policy author
 * should not have to remember `^…$`, so we anchor unconditionally.
 */
export function anchoredPattern(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch (err) {
      throw new ModelsealError('CONFIG_INVALID', `invalid identity regexp ${JSON.stringify(pattern)}: ${(err as Error).message}`);
    }
    compiled.set(pattern, re);
  }
  return re;
}

export function identityMatches(san: string, expected: SigstoreAuthority['identity']): boolean {
  return 'exact' in expected ? san === expected.exact : anchoredPattern(expected.regexp).test(san);
}

/** Throws IDENTITY_MISMATCH unless the SAN matches and the issuer is exactly the configured one. */
export function assertSignerMatches(claims: CertificateClaims, authority: SigstoreAuthority): { identity: string; issuer: string } {
  const san = claims.subjectAlternativeName;
  const wanted = 'exact' in authority.identity ? authority.identity.exact : `/${authority.identity.regexp}/`;
  if (san === undefined || san === '') {
    throw new ModelsealError('IDENTITY_MISMATCH', 'signing certificate has no subject alternative name', { details: { expected: wanted } });
  }
  if (!identityMatches(san, authority.identity)) {
    throw new ModelsealError('IDENTITY_MISMATCH', `signer identity ${san} does not match ${wanted}`, {
      details: { identity: san, expected: wanted },
    });
  }
  if (claims.issuer !== authority.issuer) {
    throw new ModelsealError('IDENTITY_MISMATCH', `signer OIDC issuer ${claims.issuer ?? '(none)'} is not ${authority.issuer}`, {
      details: { issuer: claims.issuer, expected: authority.issuer },
    });
  }
  return { identity: san, issuer: claims.issuer };
}
