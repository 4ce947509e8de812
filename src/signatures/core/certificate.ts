import { X509Certificate, type KeyObject } from 'node:crypto';
import { ModelsealError, isModelsealError } from '../../errors.js';
import { ecCurveOf } from './ecdsa-curves.js';
import type { ParsedBundle } from '../oms/bundle.js';
import { envelopeSignedBy } from '../oms/envelope-signature.js';
import { certFacts, oneLineName, OID, type CertFacts } from './x509-facts.js';
import type { SignerIdentity } from './types.js';

/** Signature algorithms accepted on certificates: no MD5, no SHA-1. */
const SIGNATURE_ALGORITHMS = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
  '1.2.840.113549.1.1.10', // RSASSA-PSS
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  '1.3.101.112', // Ed25519
]);
const MIN_RSA_BITS = 2048;
const MAX_PATH = 8;

function certError(message: string): never {
  throw new ModelsealError('CERTIFICATE_INVALID', message);
}

function label(cert: X509Certificate): string {
  return oneLineName(cert.subject);
}

function checkValidAt(cert: X509Certificate, role: string, now: Date): void {
  if (now < cert.validFromDate) certError(`${role} certificate ${label(cert)} is not valid before ${cert.validFromDate.toISOString()}`);
  if (now > cert.validToDate) certError(`${role} certificate ${label(cert)} expired ${cert.validToDate.toISOString()}`);
}

export function checkFacts(cert: X509Certificate, facts: CertFacts, role: string): void {
  if (facts.unknownCritical.length > 0) certError(`${role} certificate ${label(cert)} has unsupported critical extension(s) ${facts.unknownCritical.join(', ')}`);
  if (!SIGNATURE_ALGORITHMS.has(facts.signatureAlgorithm)) certError(`${role} certificate ${label(cert)} is signed with unsupported algorithm ${facts.signatureAlgorithm}`);
}

/**
 * The leaf must be allowed to sign code (spec §8.2): KeyUsage digitalSignature, or EKU
 * codeSigning. A KeyUsage that leaves out digitalSignature forbids signing whatever the EKU says
 * (RFC 5280 §4.2.1.3), and an EKU that is present must include codeSigning (RFC 5280 §4.2.1.12:
 * a TLS server certificate, EKU serverAuth only, is not a model signer). `model_signing` accepts
 * any leaf with digitalSignature; modelseal is stricter here, on purpose. CA:TRUE on the leaf is not
 * a reason to reject (golden PKI, trap T13).
 */
function checkLeafUsage(leaf: X509Certificate, facts: CertFacts): void {
  if (facts.keyUsage && !facts.keyUsage.digitalSignature) certError(`signing certificate ${label(leaf)} has a KeyUsage without digitalSignature`);
  const codeSigning = facts.extKeyUsage?.includes(OID.codeSigning) ?? false;
  if (facts.extKeyUsage !== undefined && !codeSigning) {
    certError(`signing certificate ${label(leaf)} has an extended key usage without codeSigning (${facts.extKeyUsage.join(', ')})`);
  }
  if (!facts.keyUsage?.digitalSignature && !codeSigning) {
    certError(`signing certificate ${label(leaf)} allows neither digitalSignature (KeyUsage) nor codeSigning (EKU)`);
  }
}

/** A certificate acting as an issuer: a CA (basicConstraints cA) within its path length, valid now. */
function checkIssuer(cert: X509Certificate, role: string, intermediatesBelow: number, now: Date): void {
  const facts = certFacts(cert);
  checkFacts(cert, facts, role);
  if (!facts.basicConstraints?.ca) certError(`${role} certificate ${label(cert)} is not a CA (basicConstraints cA is not set)`);
  if (facts.keyUsage && !facts.keyUsage.keyCertSign) certError(`${role} certificate ${label(cert)} may not sign certificates (KeyUsage)`);
  const pathLen = facts.basicConstraints.pathLen;
  if (pathLen !== undefined && intermediatesBelow > pathLen) certError(`${role} certificate ${label(cert)} allows ${pathLen} intermediates below it, the chain has ${intermediatesBelow}`);
  checkValidAt(cert, role, now);
  const details = cert.publicKey.asymmetricKeyDetails;
  if (cert.publicKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) < MIN_RSA_BITS) {
    certError(`${role} certificate ${label(cert)} has an RSA key shorter than ${MIN_RSA_BITS} bits`);
  }
}

/** `child` names `issuer` (subject, AKI/SKI) and carries its signature. */
function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Depth-first path building: leaf → bundle intermediates → a configured anchor. The leaf is never
 * a candidate issuer, even when it names itself as its issuer's twin (trap T13). Each link's
 * signature is verified; the first CA-policy failure is kept to explain a dead end.
 */
function buildPath(
  cert: X509Certificate,
  pool: X509Certificate[],
  anchors: X509Certificate[],
  used: Set<X509Certificate>,
  now: Date,
  problems: ModelsealError[],
): boolean {
  const below = used.size - 1;
  if (below >= MAX_PATH) return false;
  for (const anchor of anchors) {
    if (!issuedBy(cert, anchor)) continue;
    try {
      checkIssuer(anchor, 'trust anchor', below, now);
      return true;
    } catch (err) {
      if (!isModelsealError(err)) throw err;
      problems.push(err);
    }
  }
  for (const next of pool) {
    if (used.has(next) || !issuedBy(cert, next)) continue;
    try {
      checkIssuer(next, 'intermediate', below, now);
    } catch (err) {
      if (!isModelsealError(err)) throw err;
      problems.push(err);
      continue;
    }
    used.add(next);
    if (buildPath(next, pool, anchors, used, now, problems)) return true;
    used.delete(next);
  }
  return false;
}

function parseDer(der: Buffer, i: number): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    return certError(`certificate #${i} in the bundle is not a valid X.509 certificate`);
  }
}

/**
 * Certificate method: the chain (leaf first) must lead from its leaf to one of `anchors`, all
 * valid at `now` (spec §8.2; model_signing checks at the leaf's notBefore instead, trap T11),
 * and the leaf must be allowed to sign. Returns the leaf; the caller checks its signature.
 */
function trustedLeaf(chain: Buffer[], anchors: X509Certificate[], now: Date = new Date()): X509Certificate {
  if (anchors.length === 0) throw new ModelsealError('CONFIG_INVALID', 'a certificate authority lists no trust anchors');
  const certs = chain.map(parseDer);
  const leaf = certs[0];
  if (!leaf) return certError('the bundle carries no signing certificate');
  const leafFacts = certFacts(leaf);
  checkFacts(leaf, leafFacts, 'signing');
  checkLeafUsage(leaf, leafFacts);
  checkValidAt(leaf, 'signing', now);
  try {
    ecCurveOf(leaf.publicKey);
  } catch (err) {
    certError(`signing certificate ${label(leaf)}: ${(err as Error).message}`);
  }

  // A certificate configured as a trust anchor and used as the signing certificate is pinned:
  // trusted as itself, with no issuer to check (a self-signed signer, as model_signing accepts).
  if (anchors.some((a) => a.raw.equals(leaf.raw))) return leaf;
  pathToAnchor(leaf, certs, anchors, now);
  return leaf;
}

/**
 * Some path from `leaf` through `certs` (other certificates the signature carried, in any order)
 * to one of `anchors`, every issuer a CA valid at `at`. Throws the first dead end's reason, else
 * UNTRUSTED_SIGNER. The leaf's own rules are the caller's: they differ per signature format.
 */
export function pathToAnchor(leaf: X509Certificate, certs: X509Certificate[], anchors: X509Certificate[], at: Date): void {
  const pool = certs.filter((c, i, all) => c.fingerprint256 !== leaf.fingerprint256 && all.findIndex((o) => o.fingerprint256 === c.fingerprint256) === i);
  const problems: ModelsealError[] = [];
  if (!buildPath(leaf, pool, anchors, new Set([leaf]), at, problems)) {
    if (problems[0]) throw problems[0];
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      `certificate chain of ${label(leaf)} (issuer ${oneLineName(leaf.issuer)}) does not lead to a configured trust anchor (${anchors.map(label).join('; ')})`,
    );
  }
}

/** Who a trusted leaf names, as receipts and logs record it. */
function certificateSigner(leaf: X509Certificate): SignerIdentity {
  return { method: 'certificate', identity: label(leaf), issuer: oneLineName(leaf.issuer) };
}

/**
 * The certificate method for any signed thing (OMS envelope, attestation, blob, cosign layer):
 * a trusted chain, and `signedBy` accepts the leaf's key.
 */
export function verifyChainSignature(
  chain: Buffer[], anchors: X509Certificate[], signedBy: (key: KeyObject) => boolean, what = 'the signature', now: Date = new Date(),
): SignerIdentity {
  const leaf = trustedLeaf(chain, anchors, now);
  if (!signedBy(leaf.publicKey)) throw new ModelsealError('SIGNATURE_INVALID', `${what} does not verify with the key of signing certificate ${label(leaf)}`);
  return certificateSigner(leaf);
}

/** An OMS bundle signed with the certificate method: a trusted chain, and the leaf's key signed the envelope. */
export function verifyWithCertificates(bundle: ParsedBundle, anchors: X509Certificate[], now: Date = new Date()): SignerIdentity {
  return verifyChainSignature(bundle.material.x509Chain, anchors, (key) => envelopeSignedBy(key, bundle), 'the DSSE signature', now);
}
