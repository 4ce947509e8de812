import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { cosignKeyHint, keyIdentity, omsKeyHint, spkiDer } from '../core/key-ids.js';
import { ecCurveOf } from '../core/ecdsa-curves.js';
import type { ParsedBundle } from './bundle.js';
import { envelopeSignedBy } from './envelope-signature.js';
import type { SignerIdentity } from '../core/types.js';

/** The key a bundle's `publicKey.rawBytes` names: PEM text in model_signing 0.3–1.0, DER elsewhere. */
function bundleKeyDer(raw: Buffer): Buffer | undefined {
  try {
    const text = raw.toString('latin1');
    const key = text.includes('-----BEGIN') ? createPublicKey(text) : createPublicKey({ key: raw, format: 'der', type: 'spki' });
    return spkiDer(key);
  } catch {
    return undefined;
  }
}

/**
 * Which configured keys the bundle says signed it. Hints only select (traps T6–T8): the
 * configured keys are the trust, the signature is the proof.
 */
function keysNamedByBundle(bundle: ParsedBundle, keys: KeyObject[]): { named: KeyObject[]; claimed: string | undefined } {
  const { publicKey } = bundle.material;
  const hints = [publicKey?.hint, bundle.keyid].filter((h): h is string => h !== undefined);
  const rawDer = publicKey?.rawBytes ? bundleKeyDer(publicKey.rawBytes) : undefined;
  // One fingerprint form everywhere: `key:<sha256 of SPKI DER>` when the bundle carries the key;
  // a bare hint (whose hash form differs between producers) is shown as a hint, never as a fingerprint.
  const claimed = rawDer ? `key:${createHash('sha256').update(rawDer).digest('hex')}` : hints[0] !== undefined ? `hint ${hints[0]}` : undefined;
  if (claimed === undefined) return { named: [], claimed };
  const named = keys.filter((k) => {
    const forms = [omsKeyHint(k), cosignKeyHint(k)];
    if (hints.some((h) => forms.includes(h))) return true;
    return rawDer !== undefined && rawDer.equals(spkiDer(k));
  });
  return { named, claimed };
}

/** Key method: the envelope must verify with one of the configured public keys. */
export function verifyWithKeys(bundle: ParsedBundle, keys: KeyObject[]): SignerIdentity {
  if (keys.length === 0) throw new ModelsealError('CONFIG_INVALID', 'a key authority lists no public keys');
  keys.forEach(ecCurveOf);
  const { named, claimed } = keysNamedByBundle(bundle, keys);
  // When the hint names none of ours it may just be another producer's hint form: try them all.
  for (const key of named.length > 0 ? named : keys) {
    if (envelopeSignedBy(key, bundle)) return { method: 'key', identity: keyIdentity(key) };
  }
  const tried = keys.map(keyIdentity).join(', ');
  if (named.length === 0 && claimed !== undefined) {
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      `the bundle names a signing key (${claimed}) that is not configured, and no configured key (${tried}) verifies the signature`,
    );
  }
  throw new ModelsealError('SIGNATURE_INVALID', `the DSSE signature does not verify with the configured key(s) ${tried}`);
}
