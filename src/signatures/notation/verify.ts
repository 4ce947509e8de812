import { constants, verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { logger } from '../../log.js';
import { verifyTimestampToken } from '../core/timestamp.js';
import type { NotationAuthority, SignerIdentity } from '../core/types.js';
import { oneLineName } from '../core/x509-facts.js';
import { algForKey, chainTouchesTrustStore, checkChainStructure } from './chain.js';
import { parseEnvelope, type NotationEnvelope } from './envelope.js';
import { checkTrustedIdentity, parseTrustedIdentities } from './identities.js';
import { checkTargetArtifact, type NotationSubject } from './payload.js';

export type { NotationAuthority } from '../core/types.js';
export type { NotationSubject } from './payload.js';

/** The five checks of trust-store-trust-policy.md; the error's `details.check` names the one that failed. */
type Check = 'integrity' | 'authenticity' | 'authenticTimestamp' | 'expiry';

function fail(code: ConstructorParameters<typeof ModelsealError>[0], check: Check, message: string): never {
  throw new ModelsealError(code, message, { details: { check } });
}

function checkSignature(env: NotationEnvelope, leaf: X509Certificate): void {
  const want = algForKey(leaf.publicKey);
  if (!want) fail('CERTIFICATE_INVALID', 'integrity', `signing certificate ${oneLineName(leaf.subject)} has a key size or curve Notation does not allow`);
  if (want !== env.alg) fail('SIGNATURE_INVALID', 'integrity', `envelope alg ${env.alg} does not match the signing key (${want})`);
  const hash = `sha${env.alg.slice(2)}`;
  const key = env.alg.startsWith('PS')
    ? { key: leaf.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(env.alg.slice(2)) / 8 }
    : { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' as const };
  let ok = false;
  try {
    ok = cryptoVerify(hash, env.signingInput, key, env.signature);
  } catch {
    ok = false;
  }
  if (!ok) fail('SIGNATURE_INVALID', 'integrity', `Notation ${env.format.toUpperCase()} signature does not verify with signing certificate ${oneLineName(leaf.subject)}`);
}

function outsideValidity(c: X509Certificate, from: Date, to: Date): string | undefined {
  if (from < c.validFromDate) return `${oneLineName(c.subject)} is not valid before ${c.validFromDate.toISOString()}`;
  if (to > c.validToDate) return `${oneLineName(c.subject)} expired ${c.validToDate.toISOString()}`;
  return undefined;
}

/**
 * Authentic timestamp (trust-store-trust-policy.md step 6). signingAuthority: the signed
 * authenticSigningTime lies within every chain certificate. notary.x509: with TSA roots
 * configured and (verifyTimestamp always, or a chain certificate already expired) the RFC 3161
 * countersignature over the raw signature bytes must verify and its time range lie within every
 * chain certificate; otherwise every chain certificate must be valid now.
 */
function checkAuthenticTime(env: NotationEnvelope, certs: X509Certificate[], a: NotationAuthority, now: Date): void {
  if (env.scheme === 'notary.x509.signingAuthority') {
    const t = env.authenticSigningTime!;
    for (const c of certs) {
      const why = outsideValidity(c, t, t);
      if (why) fail('CERTIFICATE_INVALID', 'authenticTimestamp', `authentic signing time ${t.toISOString()} is outside the certificate validity: ${why}`);
    }
    return;
  }
  const expired = certs.some((c) => now > c.validToDate);
  const tsaRoots = a.tsaRoots ?? [];
  if (tsaRoots.length > 0 && ((a.verifyTimestamp ?? 'always') === 'always' || expired)) {
    if (!env.timestampToken) fail('TIMESTAMP_INVALID', 'authenticTimestamp', 'no timestamp countersignature was found in the signature envelope, and the policy requires one');
    let ts;
    try {
      ts = verifyTimestampToken(env.timestampToken, env.signature, tsaRoots);
    } catch (err) {
      if (err instanceof ModelsealError) fail(err.code, 'authenticTimestamp', err.message);
      throw err;
    }
    for (const c of certs) {
      const why = outsideValidity(c, ts.earliest, ts.latest);
      if (why) fail('TIMESTAMP_INVALID', 'authenticTimestamp', `timestamp ${ts.genTime.toISOString()} ±${ts.accuracyMs} ms is outside the certificate validity: ${why}`);
    }
    return;
  }
  for (const c of certs) {
    const why = outsideValidity(c, now, now);
    if (why) fail('CERTIFICATE_INVALID', 'authenticTimestamp', `certificate ${why}, and no trusted timestamp says it was valid when it signed`);
  }
}

/**
 * Verify a Notation signature (JWS or COSE envelope) for `subject` under one authority, as the
 * Notary Project trust policy's strict level does (permissive: authentic-timestamp and expiry
 * failures are logged, not enforced). Revocation (OCSP/CRL) is not checked.
 */
export async function verifyNotationSignature(
  candidate: { envelope: Uint8Array; mediaType: string },
  subject: NotationSubject,
  authority: NotationAuthority,
  now: Date = new Date(),
): Promise<SignerIdentity> {
  const identities = parseTrustedIdentities(authority.trustedIdentities, `authority ${authority.name ?? 'notation'}`);
  if (authority.trustStore.length === 0) throw new ModelsealError('CONFIG_INVALID', `Notation authority ${authority.name ?? ''} has an empty trust store`);

  // 1. Integrity: envelope, chain structure, signature, and the signed descriptor.
  const env = await parseEnvelope(candidate.envelope, candidate.mediaType);
  const certs = checkChainStructure(env.certs);
  const leaf = certs[0]!;
  checkSignature(env, leaf);
  checkTargetArtifact(env.payload, subject);

  // 2. Authenticity: the scheme's trust store vouches for the chain, and the identity matches.
  const wantsSa = env.scheme === 'notary.x509.signingAuthority';
  if (wantsSa !== (authority.signingAuthority ?? false)) {
    fail('UNTRUSTED_SIGNER', 'authenticity', `a ${env.scheme} signature is checked only against a ${wantsSa ? 'signingAuthority' : 'ca'} trust store`);
  }
  if (!chainTouchesTrustStore(certs, authority.trustStore)) {
    fail('UNTRUSTED_SIGNER', 'authenticity', `the signature's certificate chain (${oneLineName(leaf.subject)}) does not contain any certificate of the trust store`);
  }
  checkTrustedIdentity(leaf, identities);

  // 3 and 4. Authentic timestamp and expiry: enforced at strict, logged at permissive.
  const soft = (fn: () => void): void => {
    if ((authority.level ?? 'strict') === 'strict') return fn();
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      logger().warn({ code: err.code, check: err.details.check }, `Notation (permissive level, logged only): ${err.message}`);
    }
  };
  soft(() => checkAuthenticTime(env, certs, authority, now));
  soft(() => {
    if (env.expiry && now >= env.expiry) fail('SIGNATURE_EXPIRED', 'expiry', `Notation signature expired on ${env.expiry.toISOString()}`);
  });

  return {
    method: 'notation',
    identity: oneLineName(leaf.subject),
    issuer: oneLineName(leaf.issuer),
    ...(authority.name === undefined ? {} : { authority: authority.name }),
  };
}
