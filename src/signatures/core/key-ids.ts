import { createHash, type KeyObject } from 'node:crypto';
import { publicKeyOf } from './ecdsa-curves.js';

export function spkiDer(key: KeyObject): Buffer {
  return publicKeyOf(key).export({ type: 'spki', format: 'der' });
}

/**
 * OMS v1.1 `publicKey.hint`: hex SHA-256 of the SPKI PEM text. Node's PEM export matches
 * Python's `public_bytes(PEM, SubjectPublicKeyInfo)` byte for byte.
 */
export function omsKeyHint(key: KeyObject): string {
  const pem = publicKeyOf(key).export({ type: 'spki', format: 'pem' });
  return createHash('sha256').update(pem).digest('hex');
}

/** cosign's hint: standard base64 SHA-256 of the SPKI DER. */
export function cosignKeyHint(key: KeyObject): string {
  return createHash('sha256').update(spkiDer(key)).digest('base64');
}

/** The identity a verified key signature reports (verification/types.ts): `key:<hex sha256 of SPKI DER>`. */
export function keyIdentity(key: KeyObject): string {
  return `key:${createHash('sha256').update(spkiDer(key)).digest('hex')}`;
}
