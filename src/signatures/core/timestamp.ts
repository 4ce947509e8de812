import { createHash, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { isModelsealError, ModelsealError } from '../../errors.js';
import { checkFacts, pathToAnchor } from './certificate.js';
import { children, decodeOid, single, TAG, type Tlv } from './der.js';
import { certFacts, oneLineName, OID } from './x509-facts.js';

/**
 * RFC 3161 TimeStampToken verification, independent of any signature format: a CMS SignedData
 * (RFC 5652) whose content is a TSTInfo, signed by a TSA whose chain leads to configured roots.
 * Callers decide what the message is (Notation: the raw signature bytes) and what the time means.
 */
export interface VerifiedTimestamp {
  genTime: Date;
  /** Accuracy in milliseconds (explicit, else 1 s for the ETSI baseline policy, else 0). */
  accuracyMs: number;
  /** [genTime − accuracy, genTime + accuracy]: the time the TSA vouches for. */
  earliest: Date;
  latest: Date;
  tsa: X509Certificate;
  policy: string;
}

const OIDS = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  subjectKeyIdentifier: '2.5.29.14',
  /** ETSI EN 319 422 best-practice policy: accuracy of at least one second when none is stated. */
  baselinePolicy: '0.4.0.2023.1.1',
} as const;

const HASHES: Record<string, 'sha256' | 'sha384' | 'sha512'> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** SignerInfo signature algorithms: PKCS#1 v1.5 (rsaEncryption takes its hash from digestAlgorithm) and ECDSA. */
const SIGNATURES: Record<string, { kind: 'rsa' | 'ecdsa'; hash?: 'sha256' | 'sha384' | 'sha512' }> = {
  '1.2.840.113549.1.1.1': { kind: 'rsa' },
  '1.2.840.113549.1.1.11': { kind: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', hash: 'sha512' },
};

/** Bound the work a hostile token can cause. */
const MAX_TOKEN_BYTES = 64 * 1024;
const MAX_CERTS = 16;

function bad(message: string): never {
  throw new ModelsealError('TIMESTAMP_INVALID', `timestamp token: ${message}`);
}

function need(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) bad(`${what} is missing or malformed`);
  return t;
}

function oidOf(t: Tlv | undefined, what: string): string {
  return decodeOid(need(t, TAG.OID, what).value);
}

function algorithm(t: Tlv | undefined, what: string): string {
  return oidOf(children(need(t, TAG.SEQUENCE, what).value)[0], what);
}

function hashOf(oid: string, what: string): 'sha256' | 'sha384' | 'sha512' {
  const h = HASHES[oid];
  if (!h) bad(`${what} uses unsupported hash algorithm ${oid} (SHA-256, SHA-384 or SHA-512 only)`);
  return h;
}

/** GeneralizedTime as RFC 5280 and RFC 3161 allow it: UTC (`Z`), optional fraction. */
function generalizedTime(t: Tlv | undefined): Date {
  const s = need(t, 0x18, 'genTime').value.toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) bad(`genTime ${JSON.stringify(s)} is not a UTC GeneralizedTime`);
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3]!) bad(`genTime ${s} is not a valid date`);
  return d;
}

function smallInt(v: Buffer, what: string): number {
  if (v.length === 0 || v.length > 4 || v[0]! & 0x80) bad(`${what} is not a small non-negative integer`);
  return v.reduce((a, b) => a * 256 + b, 0);
}

/** Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] (1..999) OPTIONAL, micros [1] (1..999) OPTIONAL }. */
function accuracyMs(t: Tlv): number {
  let ms = 0;
  for (const p of children(t.value)) {
    if (p.tag === TAG.INTEGER) ms += smallInt(p.value, 'accuracy seconds') * 1000;
    else if (p.tag === 0x80) ms += smallInt(p.value, 'accuracy millis');
    else if (p.tag === 0x81) ms += Math.ceil(smallInt(p.value, 'accuracy micros') / 1000);
    else bad('accuracy is malformed');
  }
  return ms;
}

interface TstInfo {
  policy: string;
  imprintHash: 'sha256' | 'sha384' | 'sha512';
  imprint: Buffer;
  genTime: Date;
  accuracyMs?: number;
}

/** TSTInfo (RFC 3161 §2.4.2): version 1, policy, messageImprint, serialNumber, genTime, accuracy?, … */
function parseTstInfo(der: Buffer): TstInfo {
  const f = children(single(der, TAG.SEQUENCE, 'TSTInfo').value);
  if (need(f[0], TAG.INTEGER, 'TSTInfo version').value.toString('hex') !== '01') bad('TSTInfo version is not 1');
  const policy = oidOf(f[1], 'TSTInfo policy');
  const imprint = children(need(f[2], TAG.SEQUENCE, 'messageImprint').value);
  const imprintHash = hashOf(algorithm(imprint[0], 'messageImprint algorithm'), 'messageImprint');
  const hashed = need(imprint[1], TAG.OCTET_STRING, 'messageImprint hash').value;
  need(f[3], TAG.INTEGER, 'TSTInfo serialNumber');
  const genTime = generalizedTime(f[4]);
  const acc = f[5]?.tag === TAG.SEQUENCE ? accuracyMs(f[5]) : undefined;
  return { policy, imprintHash, imprint: hashed, genTime, ...(acc === undefined ? {} : { accuracyMs: acc }) };
}

interface SignerInfo {
  sid: { issuerAndSerial: Buffer } | { ski: Buffer };
  digest: 'sha256' | 'sha384' | 'sha512';
  signedAttrs: Tlv;
  signatureAlgorithm: string;
  signature: Buffer;
}

function parseSignerInfo(t: Tlv): SignerInfo {
  const f = children(need(t, TAG.SEQUENCE, 'SignerInfo').value);
  need(f[0], TAG.INTEGER, 'SignerInfo version');
  const sidTlv = f[1];
  let sid: SignerInfo['sid'];
  if (sidTlv?.tag === TAG.SEQUENCE) sid = { issuerAndSerial: sidTlv.value };
  else if (sidTlv?.tag === 0x80) sid = { ski: sidTlv.value };
  else bad('SignerInfo sid is malformed');
  const digest = hashOf(algorithm(f[2], 'SignerInfo digestAlgorithm'), 'SignerInfo digestAlgorithm');
  // The signed attributes are mandatory here: they carry the content type, digest and ESS binding.
  const signedAttrs = need(f[3], 0xa0, 'SignerInfo signedAttrs');
  const signatureAlgorithm = algorithm(f[4], 'SignerInfo signatureAlgorithm');
  const signature = need(f[5], TAG.OCTET_STRING, 'SignerInfo signature').value;
  return { sid, digest, signedAttrs, signatureAlgorithm, signature };
}

/** Each signed attribute exactly once, with exactly one value. */
function attributes(signedAttrs: Tlv): Map<string, Tlv> {
  const out = new Map<string, Tlv>();
  for (const a of children(signedAttrs.value)) {
    const [oid, values] = children(need(a, TAG.SEQUENCE, 'signed attribute').value);
    const id = oidOf(oid, 'signed attribute type');
    if (out.has(id)) bad(`signed attribute ${id} appears twice`);
    const vals = children(need(values, TAG.SET, `signed attribute ${id}`).value);
    if (vals.length !== 1) bad(`signed attribute ${id} must have exactly one value`);
    out.set(id, vals[0]!);
  }
  return out;
}

/** tbsCertificate's issuer and serialNumber (for IssuerAndSerialNumber) and its SubjectKeyIdentifier. */
function certIds(cert: X509Certificate): { issuerAndSerial: Buffer; ski?: Buffer } {
  const tbs = children(single(cert.raw, TAG.SEQUENCE, 'certificate').value)[0]!;
  const f = children(tbs.value);
  const o = f[0]?.tag === 0xa0 ? 1 : 0;
  const issuerAndSerial = Buffer.concat([f[o + 2]!.raw, f[o]!.raw]);
  let ski: Buffer | undefined;
  const ext = f.find((t) => t.tag === TAG.EXTENSIONS);
  if (ext) {
    for (const e of children(single(ext.value, TAG.SEQUENCE, 'extensions').value)) {
      const parts = children(e.value);
      if (parts[0] && decodeOid(parts[0].value) === OIDS.subjectKeyIdentifier) {
        ski = single(parts[parts.length - 1]!.value, TAG.OCTET_STRING, 'subjectKeyIdentifier').value;
      }
    }
  }
  return ski ? { issuerAndSerial, ski } : { issuerAndSerial };
}

function findSigner(certs: X509Certificate[], sid: SignerInfo['sid']): X509Certificate {
  const hit = certs.find((c) => {
    const ids = certIds(c);
    // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }: compare its content.
    return 'issuerAndSerial' in sid ? ids.issuerAndSerial.equals(sid.issuerAndSerial) : !!ids.ski && ids.ski.equals(sid.ski);
  });
  if (!hit) bad('signing certificate not found in the timestamp token');
  return hit;
}

/** ESS signing-certificate-v2 (RFC 5035): the first ESSCertIDv2 hashes the signer's certificate. */
function checkEssBinding(attr: Tlv | undefined, signer: X509Certificate): void {
  if (!attr) bad('has no ESS signing-certificate-v2 attribute binding the TSA certificate');
  const certIdsSeq = children(need(children(need(attr, TAG.SEQUENCE, 'SigningCertificateV2').value)[0], TAG.SEQUENCE, 'ESSCertIDv2 list').value);
  const first = children(need(certIdsSeq[0], TAG.SEQUENCE, 'ESSCertIDv2').value);
  let i = 0;
  let hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'; // DEFAULT id-sha256
  if (first[0]?.tag === TAG.SEQUENCE) hash = hashOf(algorithm(first[i++], 'ESSCertIDv2 hashAlgorithm'), 'ESSCertIDv2');
  const certHash = need(first[i], TAG.OCTET_STRING, 'ESSCertIDv2 certHash').value;
  if (!createHash(hash).update(signer.raw).digest().equals(certHash)) bad('ESS signing-certificate-v2 does not name the certificate that signed the token');
}

/** RFC 3161 §2.3: the TSA certificate's only extended key usage is timeStamping, marked critical. */
function checkTsaCertificate(cert: X509Certificate): void {
  const facts = certFacts(cert);
  checkFacts(cert, facts, 'timestamping');
  const eku = facts.extKeyUsage ?? [];
  if (eku.length !== 1 || eku[0] !== OID.timeStamping || !facts.critical.includes(OID.extKeyUsage)) {
    bad(`TSA certificate ${oneLineName(cert.subject)} must have exactly one critical extended key usage, timeStamping`);
  }
  if (facts.keyUsage && !facts.keyUsage.names.some((n) => n === 'digitalSignature' || n === 'nonRepudiation')) {
    bad(`TSA certificate ${oneLineName(cert.subject)} has a KeyUsage that forbids signing`);
  }
  if (facts.basicConstraints?.ca) bad(`TSA certificate ${oneLineName(cert.subject)} is a CA certificate`);
}

function checkSignature(si: SignerInfo, signer: X509Certificate): void {
  const alg = SIGNATURES[si.signatureAlgorithm];
  if (!alg) bad(`signature algorithm ${si.signatureAlgorithm} is not supported`);
  if (alg.hash && alg.hash !== si.digest) bad('signature algorithm and digest algorithm disagree');
  const keyType = signer.publicKey.asymmetricKeyType;
  if ((alg.kind === 'rsa') !== (keyType === 'rsa') || (alg.kind === 'ecdsa' && keyType !== 'ec')) bad('signature algorithm does not fit the TSA key');
  // RFC 5652 §5.4: the signature covers the DER of the attributes with the SET OF tag, not [0].
  const signed = Buffer.concat([Buffer.from([TAG.SET]), si.signedAttrs.raw.subarray(1)]);
  let ok = false;
  try {
    ok = cryptoVerify(si.digest, signed, signer.publicKey, si.signature);
  } catch {
    ok = false;
  }
  if (!ok) bad(`CMS signature does not verify with TSA certificate ${oneLineName(signer.subject)}`);
}

/**
 * Verify `token` (DER TimeStampToken) as a countersignature of `message`: CMS signature by a
 * certificate carried in the token, bound by ESS signing-certificate-v2, with a timeStamping-only
 * EKU, chaining to one of `tsaRoots` with every certificate valid at genTime; messageImprint is
 * the hash of `message`. Throws TIMESTAMP_INVALID with a one-line reason.
 */
export function verifyTimestampToken(token: Uint8Array, message: Uint8Array, tsaRoots: X509Certificate[]): VerifiedTimestamp {
  if (tsaRoots.length === 0) throw new ModelsealError('CONFIG_INVALID', 'no TSA roots are configured to verify a timestamp');
  const der = Buffer.from(token);
  if (der.length > MAX_TOKEN_BYTES) bad(`is ${der.length} bytes, over the ${MAX_TOKEN_BYTES}-byte limit`);
  try {
    return verifyParsed(der, message, tsaRoots);
  } catch (err) {
    // Malformed DER deep inside is a bad token, whatever layer noticed it.
    if (isModelsealError(err, 'CERTIFICATE_INVALID') && /malformed DER/.test(err.message)) bad(err.message);
    throw err;
  }
}

function verifyParsed(der: Buffer, message: Uint8Array, tsaRoots: X509Certificate[]): VerifiedTimestamp {
  const ci = children(single(der, TAG.SEQUENCE, 'ContentInfo').value);
  if (oidOf(ci[0], 'contentType') !== OIDS.signedData) bad('is not CMS SignedData');
  const sd = children(single(need(ci[1], 0xa0, 'SignedData').value, TAG.SEQUENCE, 'SignedData').value);
  need(sd[0], TAG.INTEGER, 'SignedData version');
  const encap = children(need(sd[2], TAG.SEQUENCE, 'encapContentInfo').value);
  if (oidOf(encap[0], 'eContentType') !== OIDS.tstInfo) bad('content is not a TSTInfo');
  const eContent = single(need(encap[1], 0xa0, 'eContent').value, TAG.OCTET_STRING, 'eContent').value;
  let i = 3;
  const certs: X509Certificate[] = [];
  if (sd[i]?.tag === 0xa0) {
    const list = children(sd[i++]!.value);
    if (list.length > MAX_CERTS) bad(`carries ${list.length} certificates, over the limit of ${MAX_CERTS}`);
    for (const c of list) {
      if (c.tag !== TAG.SEQUENCE) continue; // other certificate choices (attribute certs) cannot sign
      try {
        certs.push(new X509Certificate(c.raw));
      } catch {
        bad('carries a certificate that does not parse');
      }
    }
  }
  if (sd[i]?.tag === 0xa1) i++; // crls: revocation is not checked here
  const signerInfos = children(need(sd[i], TAG.SET, 'signerInfos').value);
  if (signerInfos.length !== 1) bad(`must have exactly one signer (RFC 3161 §2.4.2), has ${signerInfos.length}`);
  const si = parseSignerInfo(signerInfos[0]!);

  const attrs = attributes(si.signedAttrs);
  const ct = attrs.get(OIDS.contentType);
  if (!ct || oidOf(ct, 'contentType attribute') !== OIDS.tstInfo) bad('signed contentType attribute is not TSTInfo');
  const md = attrs.get(OIDS.messageDigest);
  if (!md || !createHash(si.digest).update(eContent).digest().equals(need(md, TAG.OCTET_STRING, 'messageDigest').value)) {
    bad('signed messageDigest does not match the TSTInfo');
  }
  const signer = findSigner(certs, si.sid);
  checkEssBinding(attrs.get(OIDS.signingCertificateV2), signer);
  checkSignature(si, signer);

  const info = parseTstInfo(eContent);
  if (!createHash(info.imprintHash).update(message).digest().equals(info.imprint)) bad('messageImprint does not match the signature it should countersign');
  checkTsaCertificate(signer);
  const at = info.genTime;
  if (at < signer.validFromDate || at > signer.validToDate) bad(`TSA certificate ${oneLineName(signer.subject)} was not valid at genTime ${at.toISOString()}`);
  try {
    pathToAnchor(signer, certs, tsaRoots, at);
  } catch (err) {
    if (isModelsealError(err)) bad(`TSA chain: ${err.message}`);
    throw err;
  }
  const acc = info.accuracyMs ?? (info.policy === OIDS.baselinePolicy ? 1000 : 0);
  return {
    genTime: at,
    accuracyMs: acc,
    earliest: new Date(at.getTime() - acc),
    latest: new Date(at.getTime() + acc),
    tsa: signer,
    policy: info.policy,
  };
}
