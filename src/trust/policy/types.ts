import type { TrustRequirements } from '../types.js';

/** The trust policy as written (after strict validation). See README "Trust policy". */

export interface KeyAuthoritySpec {
  key: { publicKey: string };
}
export interface CertificateAuthoritySpec {
  certificate: { roots: string[] };
}
export interface KeylessAuthoritySpec {
  keyless: { identity?: string; identityRegexp?: string; issuer: string; trustedRoot?: string };
}
/** Notation (Notary Project): trust store certificates (PEM files) and trusted identities, as in a Notation trust policy. */
export interface NotationAuthoritySpec {
  notation: {
    trustStore: string[];
    trustedIdentities: string[];
    tsaRoots?: string[];
    signingAuthority?: boolean;
    level?: 'strict' | 'permissive';
    verifyTimestamp?: 'always' | 'afterCertExpiry';
  };
}
export type AuthoritySpec = KeyAuthoritySpec | CertificateAuthoritySpec | KeylessAuthoritySpec | NotationAuthoritySpec;

/** One `models:` entry: a canonical-reference glob, who may sign, and what else must hold. */
export interface ModelRule extends TrustRequirements {
  /** Glob over the canonical reference: `*` stays within one path segment, `**` crosses them. */
  match: string;
  /** Names from `authorities`. */
  authorities: string[];
}

export interface TrustPolicy {
  apiVersion: 'modelseal/v1';
  authorities: Record<string, AuthoritySpec>;
  models: ModelRule[];
  /** Absolute path of the file it came from (relative key paths resolve against its folder). */
  source: string;
  /** SHA-256 of the file's bytes, for receipts. */
  sha256: string;
}
