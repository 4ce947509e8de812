import type { KeyObject, X509Certificate } from 'node:crypto';
import type { Manifest } from '../../model/types.js';
import type { TsaChain } from '../oms/tsa-verify.js';

/**
 * One trusted authority: who may sign. A trust policy (src/policy) lists several per model
 * pattern; CLI flags build exactly one.
 */
export type Authority =
  | { kind: 'key'; name?: string; publicKeys: KeyObject[]; timestampAuthorities?: TsaChain[] }
  /** `timestampAuthorities`: trusted RFC 3161 TSAs; a verified timestamp moves the chain check to its time. */
  | { kind: 'certificate'; name?: string; anchors: X509Certificate[]; timestampAuthorities?: TsaChain[] }
  | {
      kind: 'sigstore';
      name?: string;
      /** trusted_root.json or ClientTrustConfig, already parsed JSON. */
      trustedRoot: unknown;
      /** Exact SAN, or a regexp that the verifier anchors at both ends. */
      identity: { exact: string } | { regexp: string };
      /** Exact OIDC issuer. */
      issuer: string;
    }
  | NotationAuthority;

/**
 * A Notary Project (Notation) trust policy entry: the trust store of one signing scheme
 * (`ca` for notary.x509, `signingAuthority` for notary.x509.signingAuthority), optional `tsa`
 * roots for RFC 3161 countersignatures, and the trusted identities (`x509.subject: …` or `*`).
 */
export interface NotationAuthority {
  kind: 'notation';
  name?: string;
  trustStore: X509Certificate[];
  tsaRoots?: X509Certificate[];
  trustedIdentities: string[];
  /** The store is a `signingAuthority` store (scheme notary.x509.signingAuthority); else `ca`. */
  signingAuthority?: boolean;
  /** Notation verification level; default strict. permissive logs expiry and timestamp failures. */
  level?: 'strict' | 'permissive';
  /** When the TSA countersignature is checked (needs tsaRoots): always (default) or once a chain certificate expired. */
  verifyTimestamp?: 'always' | 'afterCertExpiry';
}

export interface SignerIdentity {
  method: 'key' | 'certificate' | 'sigstore' | 'notation';
  /** Key: `key:<sha256 of SPKI DER hex>`; certificate and notation: leaf subject DN; sigstore: the SAN. */
  identity: string;
  issuer?: string;
  /** Name of the authority (from the policy) that accepted it. */
  authority?: string;
  /** When a trusted RFC 3161 timestamp proves the signature existed (ISO 8601), if one does. */
  signedAt?: string;
}

/** A signature that verified: the signed manifest and who signed it. */
export interface VerifiedModelSignature {
  manifest: Manifest;
  /** Hex SHA-256 root digest (subject digest); absent only for the legacy v0.2 predicate. */
  rootDigest?: string;
  predicateType: string;
  signer: SignerIdentity;
}
