import type { Authority } from '../signatures/core/types.js';

/** The vocabulary of trust decisions, shared by the policy file, the flags and every check. */

export type Method = 'key' | 'certificate' | 'sigstore';
export const METHODS: readonly Method[] = ['key', 'certificate', 'sigstore'];

/** What the user said about trust, whatever the entry point (flags, env, config file). */
export interface TrustInput {
  publicKey?: string;
  certChain?: string[];
  identity?: string;
  identityRegexp?: string;
  identityProvider?: string;
  trustRoot?: string;
  /** Trusted RFC 3161 TSA chains for key and certificate bundles (`--tsa-cert-chain`). */
  tsaCertChain?: string[];
  policy?: string;
}

/** What must hold besides a valid signature. */
export interface TrustRequirements {
  /** Distinct authorities that must each have signed exactly these files. */
  threshold: number;
  requireSbom: boolean;
  blockUnsafePickle: boolean;
  ignoreUnsignedFiles: boolean;
  requireCosign: boolean;
  requireObjectLock: boolean;
  /** A Notation signature over the pulled OCI manifest (by a `notation:` authority). */
  requireNotation: boolean;
  /** Azure Blob: every blob under a locked time-based retention policy or a legal hold. */
  requireImmutability: boolean;
}

export interface TrustDecision {
  /** The reference in canonical form (what the policy rule was matched against). */
  reference: string;
  authorities: Authority[];
  requirements: TrustRequirements;
  /** Present when a policy file decided: recorded in receipts. */
  policy?: { path: string; sha256: string; rule: string };
}

/** Command-line switches that adjust a decision (documented per flag in the README). */
export interface TrustOverrides {
  requireSbom?: boolean;
  allowUnsafePickle?: boolean;
  ignoreUnsignedFiles?: boolean;
  requireObjectLock?: boolean;
  requireImmutability?: boolean;
}


/** What a rule demands when it says nothing (and what flags alone demand). */
export const DEFAULT_REQUIREMENTS: Readonly<TrustRequirements> = {
  threshold: 1,
  requireSbom: false,
  blockUnsafePickle: true,
  ignoreUnsignedFiles: false,
  requireCosign: false,
  requireObjectLock: false,
  requireNotation: false,
  requireImmutability: false,
};
