import { verify, type KeyObject } from 'node:crypto';
import { legacyPae, pae } from '../core/dsse.js';
import { LEGACY_PREDICATE_TYPE } from './payload.js';
import type { ParsedBundle } from './bundle.js';
import { ecCurveOf, verifyEcdsa } from '../core/ecdsa-curves.js';

/**
 * True when `key` signed the envelope: ECDSA with the curve's hash over the standard PAE. The
 * v0.2 encoding (`DSSEV1` + Python bytes repr, SHA-256 whatever the curve: trap T10) is tried
 * only for the legacy predicate, the only statements that release produced.
 */
export function envelopeSignedBy(key: KeyObject, bundle: ParsedBundle): boolean {
  if (verifyEcdsa(key, pae(bundle.payloadType, bundle.payload), bundle.signature)) return true;
  if (bundle.statement.predicateType !== LEGACY_PREDICATE_TYPE) return false;
  const legacy = legacyPae(bundle.payloadType, bundle.payload);
  if (verifyEcdsa(key, legacy, bundle.signature)) return true;
  if (ecCurveOf(key) === 'P-256') return false;
  try {
    return verify('sha256', legacy, { key, dsaEncoding: 'der' }, bundle.signature);
  } catch {
    return false;
  }
}
