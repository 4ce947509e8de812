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
export type AuthoritySpec = KeyAuthoritySpec | CertificateAuthoritySpec | KeylessAuthoritySpec;

export interface ModelRule {
  /** Glob over the canonical reference: `*` stays within one path segment, `**` crosses them. */
  match: string;
  /** Names from `authorities`. */
  authorities: string[];
  /** How many distinct authorities must each have verified a signature (default 1). */
  threshold: number;
  requireSbom: boolean;
  blockUnsafePickle: boolean;
  ignoreUnsignedFiles: boolean;
  /** Require a cosign signature over the pulled OCI manifest digest, too. */
  requireCosign: boolean;
  requireObjectLock: boolean;
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
