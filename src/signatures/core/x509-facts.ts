import type { X509Certificate } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { children, decodeOid, single, TAG, type Tlv } from './der.js';

/** What chain validation needs from a certificate that node:crypto does not expose. */
export interface CertFacts {
  /** Outer signatureAlgorithm OID. */
  signatureAlgorithm: string;
  basicConstraints?: { ca: boolean; pathLen?: number };
  keyUsage?: { digitalSignature: boolean; keyCertSign: boolean; names: KeyUsageName[] };
  extKeyUsage?: string[];
  /** OIDs of every extension marked critical (profiles such as Notation's require some to be). */
  critical: string[];
  /** Critical extensions this verifier does not understand; a verifier must then reject (RFC 5280 §4.2). */
  unknownCritical: string[];
}

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/** Extensions whose meaning is either checked here or harmless to ignore when critical. */
const UNDERSTOOD = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  '2.5.29.17', // subjectAltName
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
]);

function bad(cert: X509Certificate, what: string): never {
  throw new ModelsealError('CERTIFICATE_INVALID', `certificate ${oneLineName(cert.subject)}: ${what}`);
}

/** RFC 5280 §4.2.1.3 KeyUsage bits, in bit order (bit 0 = the first content byte's MSB). */
export const KEY_USAGE_BITS = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_BITS)[number];

export function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

export function certFacts(cert: X509Certificate): CertFacts {
  const [tbs, sigAlg] = children(single(cert.raw, TAG.SEQUENCE, 'certificate').value);
  if (!tbs || !sigAlg || tbs.tag !== TAG.SEQUENCE || sigAlg.tag !== TAG.SEQUENCE) bad(cert, 'not a certificate structure');
  const signatureAlgorithm = algorithmOid(sigAlg);
  const tbsFields = children(tbs.value);
  // tbs: [0] version?, serial, signature, issuer, validity, subject, spki, [1]?, [2]?, [3] extensions?
  const innerAlg = tbsFields[tbsFields[0]?.tag === 0xa0 ? 2 : 1];
  if (!innerAlg || algorithmOid(innerAlg) !== signatureAlgorithm) bad(cert, 'inner and outer signature algorithms differ');
  const facts: CertFacts = { signatureAlgorithm, unknownCritical: [], critical: [] };
  const extField = tbsFields.find((t) => t.tag === TAG.EXTENSIONS);
  if (!extField) return facts;
  const seen = new Set<string>();
  for (const ext of children(single(extField.value, TAG.SEQUENCE, 'extensions').value)) {
    const parts = children(ext.value);
    const oid = decodeOid(expectTag(cert, parts[0], TAG.OID).value);
    if (seen.has(oid)) bad(cert, `extension ${oid} appears twice`);
    seen.add(oid);
    const critical = parts.length === 3 && expectTag(cert, parts[1], TAG.BOOLEAN).value[0] !== 0;
    const value = expectTag(cert, parts[parts.length - 1], TAG.OCTET_STRING).value;
    if (critical) facts.critical.push(oid);
    if (oid === OID.basicConstraints) facts.basicConstraints = basicConstraints(cert, value);
    else if (oid === OID.keyUsage) facts.keyUsage = keyUsage(cert, value);
    else if (oid === OID.extKeyUsage) {
      facts.extKeyUsage = children(single(value, TAG.SEQUENCE, 'extKeyUsage').value).map((t) => decodeOid(expectTag(cert, t, TAG.OID).value));
    } else if (critical && !UNDERSTOOD.has(oid)) facts.unknownCritical.push(oid);
  }
  return facts;
}

function expectTag(cert: X509Certificate, t: Tlv | undefined, tag: number): Tlv {
  if (!t || t.tag !== tag) bad(cert, `malformed extension (expected tag 0x${tag.toString(16)})`);
  return t;
}

function algorithmOid(alg: Tlv): string {
  const oid = children(alg.value)[0];
  if (!oid || oid.tag !== TAG.OID) throw new ModelsealError('CERTIFICATE_INVALID', 'malformed signature algorithm');
  return decodeOid(oid.value);
}

function basicConstraints(cert: X509Certificate, value: Buffer): { ca: boolean; pathLen?: number } {
  const parts = children(single(value, TAG.SEQUENCE, 'basicConstraints').value);
  let ca = false;
  let pathLen: number | undefined;
  for (const p of parts) {
    if (p.tag === TAG.BOOLEAN) ca = p.value[0] !== 0;
    else if (p.tag === TAG.INTEGER && p.value.length <= 4 && !(p.value[0]! & 0x80)) pathLen = p.value.reduce((a, b) => a * 256 + b, 0);
    else bad(cert, 'malformed basicConstraints');
  }
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function keyUsage(cert: X509Certificate, value: Buffer): NonNullable<CertFacts['keyUsage']> {
  const bits = single(value, TAG.BIT_STRING, 'keyUsage').value;
  if (bits.length < 2) return { digitalSignature: false, keyCertSign: false, names: [] };
  if (bits[0]! > 7) bad(cert, 'malformed keyUsage');
  // Bit 0 is the most significant bit of the first content byte.
  const names = KEY_USAGE_BITS.filter((_, i) => 1 + (i >> 3) < bits.length && (bits[1 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0);
  return { digitalSignature: (bits[1]! & 0x80) !== 0, keyCertSign: (bits[1]! & 0x04) !== 0, names };
}
