import { X509Certificate, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { checkFacts } from '../core/certificate.js';
import { certFacts, oneLineName, OID, type CertFacts, type KeyUsageName } from '../core/x509-facts.js';
import type { NotationAlg } from './envelope.js';
import { rawNames } from './subject-name.js';

/**
 * Notation's certificate rules (signature-specification.md "Certificate Requirements",
 * notation-core-go ValidateCodeSigningCertChain). They differ from the OMS rules in
 * src/signatures/core/certificate.ts: the envelope carries the whole ordered chain up to a
 * self-signed root, KeyUsage must be critical, the leaf must not be a CA, RSA leafs are allowed,
 * and no validity time is checked here (the timestamp rules decide which time counts).
 */

/** KeyUsage bits a Notation leaf must not have. */
const LEAF_FORBIDDEN_KU: KeyUsageName[] = ['keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
const LEAF_FORBIDDEN_EKU = new Map<string, string>([
  [OID.anyExtendedKeyUsage, 'anyExtendedKeyUsage'],
  [OID.serverAuth, 'serverAuth'],
  [OID.clientAuth, 'clientAuth'],
  [OID.emailProtection, 'emailProtection'],
  [OID.timeStamping, 'timeStamping'],
]);

function chainError(message: string): never {
  throw new ModelsealError('CERTIFICATE_INVALID', `Notation certificate chain: ${message}`, { details: { check: 'integrity' } });
}

const name = (c: X509Certificate): string => oneLineName(c.subject);

/**
 * notation-core-go `isIssuedBy`: the child's raw issuer equals the parent's raw subject and the
 * parent's key verifies the child. Unlike OpenSSL's check_issued, no KeyUsage of the parent is
 * consulted here (a self-signed Notation leaf has no keyCertSign); CA rules are checked apart.
 */
function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return rawNames(child).issuer.raw.equals(rawNames(parent).subject.raw) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function selfSigned(c: X509Certificate): boolean {
  return issuedBy(c, c);
}

function checkKeySize(c: X509Certificate): void {
  const k = c.publicKey;
  const d = k.asymmetricKeyDetails;
  if (k.asymmetricKeyType === 'rsa') {
    if ((d?.modulusLength ?? 0) < 2048) chainError(`${name(c)} has an RSA key shorter than 2048 bits`);
  } else if (k.asymmetricKeyType === 'ec') {
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(d?.namedCurve ?? '')) chainError(`${name(c)} has an EC key on curve ${d?.namedCurve}, not P-256, P-384 or P-521`);
  } else chainError(`${name(c)} has a ${k.asymmetricKeyType} key; Notation allows RSA and EC only`);
}

function checkCommon(c: X509Certificate, role: string): CertFacts {
  const facts = certFacts(c);
  try {
    checkFacts(c, facts, role);
  } catch (err) {
    chainError((err as Error).message);
  }
  checkKeySize(c);
  return facts;
}

function checkLeaf(c: X509Certificate): void {
  const f = checkCommon(c, 'signing');
  if (f.basicConstraints?.ca) chainError(`signing certificate ${name(c)} is a CA certificate`);
  if (!f.keyUsage || !f.critical.includes(OID.keyUsage)) chainError(`signing certificate ${name(c)} must have a critical KeyUsage extension`);
  if (!f.keyUsage.digitalSignature) chainError(`signing certificate ${name(c)} KeyUsage lacks digitalSignature`);
  const extra = f.keyUsage.names.filter((n) => LEAF_FORBIDDEN_KU.includes(n));
  if (extra.length) chainError(`signing certificate ${name(c)} KeyUsage must not include ${extra.join(', ')}`);
  const bad = (f.extKeyUsage ?? []).filter((o) => LEAF_FORBIDDEN_EKU.has(o)).map((o) => LEAF_FORBIDDEN_EKU.get(o));
  if (bad.length) chainError(`signing certificate ${name(c)} extended key usage must not include ${bad.join(', ')}`);
}

/** A CA at chain index `i` has `i - 1` intermediates below it. */
function checkCa(c: X509Certificate, i: number): void {
  const f = checkCommon(c, 'CA');
  if (!f.basicConstraints?.ca || !f.critical.includes(OID.basicConstraints)) chainError(`${name(c)} must have critical basicConstraints with cA set`);
  if (!f.keyUsage || !f.critical.includes(OID.keyUsage) || !f.keyUsage.keyCertSign) chainError(`${name(c)} must have a critical KeyUsage with keyCertSign`);
  const pathLen = f.basicConstraints.pathLen;
  if (pathLen !== undefined && i - 1 > pathLen) chainError(`${name(c)} allows ${pathLen} intermediates below it, the chain has ${i - 1}`);
}

/**
 * Parse and check the envelope's chain (leaf first) structurally: one self-signed leaf, or
 * leaf ← intermediates ← self-signed root with no other self-signed certificate, each signed by
 * the next. Returns the parsed certificates.
 */
export function checkChainStructure(ders: Buffer[]): X509Certificate[] {
  const certs = ders.map((d, i) => {
    try {
      return new X509Certificate(d);
    } catch {
      return chainError(`certificate #${i} is not a valid X.509 certificate`);
    }
  });
  const leaf = certs[0]!;
  if (certs.length === 1) {
    if (!selfSigned(leaf)) chainError(`a chain of one certificate must be self-signed; ${name(leaf)} is not`);
    checkLeaf(leaf);
    return certs;
  }
  for (const [i, c] of certs.entries()) {
    const last = i === certs.length - 1;
    if (last) {
      if (!selfSigned(c)) chainError(`root certificate ${name(c)} is not self-signed`);
    } else {
      if (selfSigned(c)) chainError(`${i === 0 ? 'leaf' : 'intermediate'} certificate ${name(c)} is self-signed, but is not the last in the chain`);
      if (!issuedBy(c, certs[i + 1]!)) chainError(`${name(c)} is not issued by the next certificate, ${name(certs[i + 1]!)}`);
    }
    if (i === 0) checkLeaf(c);
    else checkCa(c, i);
  }
  return certs;
}

/** The algorithm a leaf key implies (signature-specification.md "Signature Algorithm Requirements"). */
export function algForKey(key: KeyObject): NotationAlg | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return ({ 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' } as const)[d?.modulusLength as 2048] ?? undefined;
  if (key.asymmetricKeyType === 'ec') return ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as const)[d?.namedCurve as 'prime256v1'] ?? undefined;
  return undefined;
}

/**
 * Authenticity (notation-go `verifyAuthenticity`): some certificate of the envelope's chain is
 * byte-equal to a certificate of the trust store of the envelope's signing scheme. No path
 * building: a trust store names exact certificates.
 */
export function chainTouchesTrustStore(certs: X509Certificate[], trustStore: X509Certificate[]): boolean {
  return certs.some((c) => trustStore.some((t) => t.raw.equals(c.raw)));
}
