import { createHash, KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { ecCurveOf, hashForCurve, publicKeyOf, signEcdsa, signEcdsaPrehashed } from './ecdsa-curves.js';

/**
 * A private key held outside the process (a PKCS#11 token): only its public half is here, and
 * it signs digests made with its curve's hash. Implementations check their own output.
 */
export interface ExternalKey {
  readonly kind: 'external';
  readonly publicKey: KeyObject;
  /** For messages (e.g. the PKCS#11 URI without its PIN). */
  readonly description: string;
  signDigest(digest: Buffer): Promise<Buffer>;
}

/** An in-memory EC private key, or one that stays in a token. */
export type SigningKey = KeyObject | ExternalKey;

/** Signs the DSSE PAE bytes of a statement and says how to describe the signer in the bundle. */
export type SignerSpec =
  | { kind: 'key'; privateKey: SigningKey; tsaUrl?: string }
  | { kind: 'certificate'; privateKey: SigningKey; leafPem: string; chainPems: string[]; tsaUrl?: string }
  | {
      kind: 'sigstore';
      identityToken: string;
      fulcioUrl: string;
      rekorUrl: string;
      /** Rekor API: 1 (public-good today) or 2 (tile-backed; no integrated time, so pair it with a TSA). */
      rekorApiVersion?: 1 | 2;
      tsaUrl?: string;
    };

/** The public key of a signing key (in memory or in a token). */
export function signingPublicKey(key: SigningKey): KeyObject {
  return key instanceof KeyObject ? publicKeyOf(key) : key.publicKey;
}

function requirePrivate(key: SigningKey): void {
  if (key instanceof KeyObject && key.type !== 'private') throw new ModelsealError('KEY_INVALID', 'signing needs a private key');
}

/** DER ECDSA over `data` with the curve's hash (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512). */
export async function signWithKey(key: SigningKey, data: Buffer): Promise<Buffer> {
  requirePrivate(key);
  if (key instanceof KeyObject) return signEcdsa(key, data);
  return key.signDigest(createHash(hashForCurve(ecCurveOf(key.publicKey))).update(data).digest());
}

/** DER ECDSA over an already computed digest (blob signatures hash the file as a stream). */
export async function signDigestWithKey(key: SigningKey, digest: Buffer): Promise<Buffer> {
  requirePrivate(key);
  return key instanceof KeyObject ? signEcdsaPrehashed(key, digest) : key.signDigest(digest);
}
