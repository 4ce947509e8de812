import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';

/**
 * `modelseal webhook certs`: a private CA and a serving certificate for the webhook Service,
 * written with Node's crypto alone (the webhook image has no openssl). ECDSA P-256 + SHA-256,
 * RFC 5280 profile: the apiserver verifies the serving certificate against `caBundle` for the
 * DNS name `<service>.<namespace>.svc` (Go's x509 ignores the CN, so the SAN is what counts).
 */

// Minimal DER writer (X.690): only the types a certificate needs.
function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bits = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const a of arcs.slice(2)) {
    const b: number[] = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80);
    out.push(...b);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A positive INTEGER from unsigned big-endian bytes (a leading 0 keeps the sign bit clear). */
function uint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
};

const name = (cn: string) => seq(set(seq(oid(OID.organization), utf8('modelseal'))), set(seq(oid(OID.commonName), utf8(cn))));
const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** keyUsage bits (RFC 5280 §4.2.1.3), DER named-bit-list encoding with unused trailing bits. */
function keyUsage(usage: 'ca' | 'server'): Buffer {
  // ca: keyCertSign(5) + cRLSign(6) = 0b00000110; server: digitalSignature(0) = 0b10000000.
  return usage === 'ca' ? tlv(0x03, Buffer.from([0x01, 0x06])) : tlv(0x03, Buffer.from([0x07, 0x80]));
}

function keyId(spki: Buffer): Buffer {
  // RFC 5280 §4.2.1.2 method 1 uses the subjectPublicKey bits; a hash of the whole SPKI is as unique.
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  ca: boolean;
  dnsNames: string[];
  days: number;
  now: Date;
}

function certificate(s: CertSpec): X509Certificate {
  const spki = s.publicKey.export({ type: 'spki', format: 'der' });
  const alg = seq(oid(OID.ecdsaSha256));
  const notBefore = new Date(s.now.getTime() - 5 * 60_000); // clock skew between nodes
  const notAfter = new Date(s.now.getTime() + s.days * 86_400_000);
  const extensions = [
    ext(OID.basicConstraints, true, s.ca ? seq(bool(true), tlv(0x02, Buffer.from([0]))) : seq()),
    ext(OID.keyUsage, true, keyUsage(s.ca ? 'ca' : 'server')),
    ext(OID.subjectKeyId, false, octets(keyId(spki))),
    ...(s.ca ? [] : [ext(OID.authorityKeyId, false, seq(tlv(0x80, s.issuerKeyId)))]),
    ...(s.ca ? [] : [ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth)))]),
    ...(s.dnsNames.length ? [ext(OID.subjectAltName, false, seq(...s.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii')))))] : []),
  ];
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    uint(serial),
    alg,
    name(s.issuer),
    seq(time(notBefore), time(notAfter)),
    name(s.subject),
    spki,
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: s.signingKey, dsaEncoding: 'der' });
  return new X509Certificate(seq(tbs, alg, bits(signature)));
}

export interface WebhookCerts {
  caCertPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  /** base64 of the CA PEM: the value for `clientConfig.caBundle`. */
  caBundle: string;
  dnsNames: string[];
  notAfter: string;
}

/** DNS names the apiserver may use for a Service-backed webhook (it dials `<svc>.<ns>.svc`). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  if (!label.test(service)) throw new ModelsealError('USAGE', `service name ${JSON.stringify(service)} is not a DNS-1123 label`);
  if (!label.test(namespace)) throw new ModelsealError('USAGE', `namespace ${JSON.stringify(namespace)} is not a DNS-1123 label`);
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export function makeWebhookCerts(o: { dnsNames: string[]; days?: number; now?: Date }): WebhookCerts {
  if (o.dnsNames.length === 0) throw new ModelsealError('USAGE', 'the serving certificate needs at least one DNS name');
  const days = o.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ModelsealError('USAGE', '--days must be an integer from 1 to 3650');
  const now = o.now ?? new Date();
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caId = keyId(ca.publicKey.export({ type: 'spki', format: 'der' }));
  const caCert = certificate({ subject: 'modelseal webhook CA', issuer: 'modelseal webhook CA', publicKey: ca.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, ca: true, dnsNames: [], days: days * 2, now });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = certificate({ subject: o.dnsNames[0]!, issuer: 'modelseal webhook CA', publicKey: leaf.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, ca: false, dnsNames: o.dnsNames, days, now });
  if (!cert.verify(ca.publicKey)) throw new ModelsealError('INTERNAL', 'the serving certificate does not verify under the CA just made');
  return {
    caCertPem: caCert.toString(),
    caKeyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: cert.toString(),
    keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    caBundle: Buffer.from(caCert.toString()).toString('base64'),
    dnsNames: o.dnsNames,
    notAfter: new Date(cert.validTo).toISOString(),
  };
}
