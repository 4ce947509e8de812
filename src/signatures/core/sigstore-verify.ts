import type { KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { PolicyError, Verifier, VerificationError, toSignedEntity, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
// Not re-exported by the package index; the package has no `exports` map, so the path is stable API-wise per version.
import { getTSATimestamp } from '@sigstore/verify/dist/timestamp/index.js';
import { ModelsealError, type ErrorCode } from '../../errors.js';
import { ecCurveOf, verifyEcdsa } from './ecdsa-curves.js';
import { assertSignerMatches } from './identity.js';
import { trustMaterialFor, withCheckpointNames } from './trusted-root.js';
import type { Authority, SignerIdentity } from './types.js';

export type SigstoreAuthority = Extract<Authority, { kind: 'sigstore' }>;

/** Checks the signature with the signer's key; throws or returns false on failure. */
export type SignatureCheck = (key: KeyObject, signature: Buffer) => boolean;

/**
 * Keyless OMS verification: Fulcio chain at the time the log proves, SCT, Rekor entry (SET,
 * inclusion proof, signed checkpoint, body ↔ envelope), DSSE signature with the curve's hash,
 * then SAN (exact or anchored regexp) and OIDC issuer (exact). `payload` is the decoded DSSE
 * payload the caller will trust; it must be the envelope's own bytes.
 */
export async function verifySigstoreBundle(bundleJson: unknown, payload: Buffer, authority: SigstoreAuthority): Promise<SignerIdentity> {
  const bundle = parseSigstoreBundle(bundleJson);
  if (bundle.content.$case !== 'dsseEnvelope') throw new ModelsealError('BUNDLE_INVALID', 'Sigstore bundle has no DSSE envelope');
  const env = bundle.content.dsseEnvelope;
  if (!env.payload.equals(payload)) throw new ModelsealError('BUNDLE_INVALID', 'payload given for verification is not the DSSE envelope payload');
  const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
  return verifyKeylessBundle(bundle, authority, (key, sig) => verifyEcdsa(key, pae, sig));
}

/** `bundleFromJSON` with its ValidationError turned into BUNDLE_INVALID. */
export function parseSigstoreBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw new ModelsealError('BUNDLE_INVALID', `malformed Sigstore bundle: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The keyless path shared by OMS, DSSE attestations and cosign blobs. `checkSignature` replaces
 * sigstore-js' own signature check, which hashes DSSE with SHA-256 whatever the curve (pitfall 2)
 * and needs message artifacts in memory (pitfall 4).
 */
export function verifyKeylessBundle(bundle: Bundle, authority: SigstoreAuthority, checkSignature: SignatureCheck): SignerIdentity {
  const material = bundle.verificationMaterial.content.$case;
  if (material !== 'certificate' && material !== 'x509CertificateChain') {
    throw new ModelsealError('UNTRUSTED_SIGNER', 'bundle is signed with a plain key, not a Sigstore (Fulcio) certificate');
  }
  const tm = withCheckpointNames(trustMaterialFor(authority.trustedRoot), bundle.verificationMaterial.tlogEntries);
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle);
  } catch (err) {
    throw new ModelsealError('BUNDLE_INVALID', `unreadable certificate or timestamp in bundle: ${(err as Error).message}`, { cause: err });
  }
  entity = { ...entity, signature: withSignatureCheck(entity.signature, checkSignature), timestamps: verifiableTimestamps(entity, tm) };
  let signer;
  try {
    // Default thresholds: one tlog entry, one SCT, one verified timestamp.
    signer = new Verifier(tm, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity);
  } catch (err) {
    throw fromSigstoreError(err);
  }
  const who = assertSignerMatches(
    { subjectAlternativeName: signer.identity?.subjectAlternativeName, issuer: signer.identity?.extensions?.issuer },
    authority,
  );
  return { method: 'sigstore', identity: who.identity, issuer: who.issuer, ...(authority.name === undefined ? {} : { authority: authority.name }) };
}

/**
 * RFC 3161 timestamps that verify against the trusted TSAs. sigstore-js fails the whole bundle on
 * one it cannot verify; sigstore-go and sigstore-python skip it and count only verified ones
 * toward the threshold (golden v1.1.0-sigstore carries a timestamp.sigstore.dev token that its
 * ClientTrustConfig does not trust, and verifies in Python by its Rekor time). The threshold
 * still needs one verified time, and the chain must be valid at every time we keep.
 */
function verifiableTimestamps(entity: SignedEntity, tm: TrustMaterial): SignedEntity['timestamps'] {
  return entity.timestamps.filter((t) => {
    if (t.$case !== 'timestamp-authority') return true;
    try {
      getTSATimestamp(t.timestamp, entity.signature.signature, tm.timestampAuthorities);
      return true;
    } catch {
      return false;
    }
  });
}

function withSignatureCheck(content: SignedEntity['signature'], check: SignatureCheck): SignedEntity['signature'] {
  return {
    signature: content.signature,
    compareSignature: (s) => content.compareSignature(s),
    compareDigest: (d) => content.compareDigest(d),
    compareSignedDigest: (d) => content.compareSignedDigest(d),
    verifySignature: (key) => {
      try {
        ecCurveOf(key);
      } catch {
        throw new ModelsealError('SIGNATURE_INVALID', 'signing certificate key is not EC P-256, P-384 or P-521');
      }
      return check(key, content.signature);
    },
  };
}

const CODE_BY_SIGSTORE: Record<string, ErrorCode> = {
  TLOG_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROOF_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'TLOG_INVALID',
  TLOG_MISSING_INCLUSION_ERROR: 'TLOG_INVALID',
  TLOG_BODY_ERROR: 'TLOG_INVALID',
  TIMESTAMP_ERROR: 'TLOG_INVALID',
  CERTIFICATE_ERROR: 'CERTIFICATE_INVALID',
  PUBLIC_KEY_ERROR: 'UNTRUSTED_SIGNER',
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  UNTRUSTED_SIGNER_ERROR: 'IDENTITY_MISMATCH',
};

/** sigstore-js errors as ModelsealErrors, keeping its code in details for the decision log. */
export function fromSigstoreError(err: unknown): ModelsealError {
  if (err instanceof ModelsealError) return err;
  if (err instanceof VerificationError || err instanceof PolicyError) {
    const code = CODE_BY_SIGSTORE[err.code] ?? 'SIGNATURE_INVALID';
    return new ModelsealError(code, `Sigstore verification failed: ${err.message}`, { cause: err, details: { sigstoreCode: err.code } });
  }
  return new ModelsealError('SIGNATURE_INVALID', `Sigstore verification failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
