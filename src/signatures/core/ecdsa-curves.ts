import { createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { ModelsealError } from '../../errors.js';

/**
 * ECDSA by curve, with the hash each curve is paired with in Sigstore, cosign and OMS
 * (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512). sigstore-js hashes every DSSE signature with
 * SHA-256 (signing-formats.md §3.4 pitfall 2), so callers verify through here instead.
 */
export type EcCurve = 'P-256' | 'P-384' | 'P-521';
export type EcHash = 'sha256' | 'sha384' | 'sha512';

const CURVES = {
  'P-256': { hash: 'sha256', bytes: 32, noble: 'p256', digestName: 'SHA2_256' },
  'P-384': { hash: 'sha384', bytes: 48, noble: 'p384', digestName: 'SHA2_384' },
  'P-521': { hash: 'sha512', bytes: 66, noble: 'p521', digestName: 'SHA2_512' },
} as const;

type Nist = typeof import('@noble/curves/nist.js');
let nist: Nist | undefined;
/** noble costs ~50 ms to load and only prehashed (blob) signatures need it; require(esm) keeps callers sync. */
function noble(curve: EcCurve): Nist['p256'] {
  nist ??= createRequire(import.meta.url)('@noble/curves/nist.js') as Nist;
  return nist[CURVES[curve].noble];
}

const CURVE_BY_NODE_NAME: Record<string, EcCurve> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/** The NIST curve of an EC key; anything else (RSA, Ed25519, secp256k1) is not a signing key we accept. */
export function ecCurveOf(key: KeyObject): EcCurve {
  const curve = key.asymmetricKeyType === 'ec' ? CURVE_BY_NODE_NAME[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (curve === undefined) {
    const kind = key.asymmetricKeyType === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? '?'}` : key.asymmetricKeyType;
    throw new ModelsealError('KEY_INVALID', `unsupported signing key type ${kind ?? 'unknown'}: only EC P-256, P-384 and P-521`);
  }
  return curve;
}

export function hashForCurve(curve: EcCurve): EcHash {
  return CURVES[curve].hash;
}

/** Sigstore protobuf HashAlgorithm name for a curve's hash (`messageDigest.algorithm`). */
export function digestNameForCurve(curve: EcCurve): 'SHA2_256' | 'SHA2_384' | 'SHA2_512' {
  return CURVES[curve].digestName;
}

/** Verify a DER ECDSA signature over `data`, hashing with the key's curve hash. */
export function verifyEcdsa(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  const curve = ecCurveOf(publicKey);
  try {
    return nodeVerify(hashForCurve(curve), data, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** DER ECDSA signature over `data` with the private key's curve hash. */
export function signEcdsa(privateKey: KeyObject, data: Buffer): Buffer {
  const curve = ecCurveOf(privateKey);
  return nodeSign(hashForCurve(curve), data, { key: privateKey, dsaEncoding: 'der' });
}

/**
 * Verify a DER ECDSA signature over an already computed digest. Node cannot do this for ECDSA,
 * and hashing a multi-GB file in one Buffer is what we must avoid (pitfall 4), so use noble with
 * `prehash: false`. `lowS: false`: OpenSSL/Go signers do not normalise S.
 */
export function verifyEcdsaPrehashed(publicKey: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const curve = ecCurveOf(publicKey);
  const point = rawPublicPoint(publicKey, curve);
  try {
    return noble(curve).verify(signature, digest, point, { prehash: false, format: 'der', lowS: false });
  } catch {
    return false;
  }
}

/** DER ECDSA signature over a digest (RFC 6979 deterministic nonce). */
export function signEcdsaPrehashed(privateKey: KeyObject, digest: Uint8Array): Buffer {
  const curve = ecCurveOf(privateKey);
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new ModelsealError('KEY_INVALID', 'not an EC private key');
  const scalar = leftPad(Buffer.from(jwk.d, 'base64url'), CURVES[curve].bytes);
  return Buffer.from(noble(curve).sign(digest, scalar, { prehash: false, format: 'der' }));
}

/** The public half of an EC private key (or the key itself when already public). */
export function publicKeyOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

function rawPublicPoint(key: KeyObject, curve: EcCurve): Uint8Array {
  const jwk = publicKeyOf(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new ModelsealError('KEY_INVALID', 'not an EC public key');
  const n = CURVES[curve].bytes;
  return Buffer.concat([Buffer.from([0x04]), leftPad(Buffer.from(jwk.x, 'base64url'), n), leftPad(Buffer.from(jwk.y, 'base64url'), n)]);
}

function leftPad(b: Buffer, n: number): Buffer {
  return b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]);
}
