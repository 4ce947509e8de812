import type { X509Certificate } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { children, decodeOid, single, TAG, type Tlv } from '../core/der.js';

/** Short names Go's pkix.Name.String() uses; Notation identities are written with them. */
const SHORT: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O',
  '2.5.4.11': 'OU', '2.5.4.5': 'SERIALNUMBER', '2.5.4.17': 'POSTALCODE',
};

export type Rdn = { type: string; value: string };

function text(tag: number, v: Buffer): string {
  if (tag === 0x0c) return new TextDecoder('utf-8', { fatal: true }).decode(v);
  if (tag === 0x13 || tag === 0x16 || tag === 0x14) return v.toString('latin1');
  if (tag === 0x1e && v.length % 2 === 0) return Buffer.from(v).swap16().toString('utf16le');
  throw new ModelsealError('CERTIFICATE_INVALID', `subject attribute has unsupported string type 0x${tag.toString(16)}`);
}

/** The issuer and subject Names exactly as encoded in tbsCertificate. */
export function rawNames(cert: X509Certificate): { issuer: Tlv; subject: Tlv } {
  const tbs = children(single(cert.raw, TAG.SEQUENCE, 'certificate').value)[0]!;
  const f = children(tbs.value);
  const o = f[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = f[o + 2];
  const subject = f[o + 4];
  if (!issuer || !subject || issuer.tag !== TAG.SEQUENCE || subject.tag !== TAG.SEQUENCE) throw new ModelsealError('CERTIFICATE_INVALID', 'certificate names are malformed');
  return { issuer, subject };
}

/** The leaf's subject attributes from the DER (node's text form escapes inconsistently). */
export function subjectAttributes(cert: X509Certificate): Rdn[] {
  const { subject } = rawNames(cert);
  const out: Rdn[] = [];
  for (const set of children(subject.value)) {
    for (const atv of children(set.value)) {
      const [oid, value] = children(atv.value);
      if (!oid || oid.tag !== TAG.OID || !value) throw new ModelsealError('CERTIFICATE_INVALID', 'certificate subject attribute is malformed');
      const id = decodeOid(oid.value);
      out.push({ type: SHORT[id] ?? id, value: text(value.tag, value.value) });
    }
  }
  return out;
}

/**
 * A Notation trusted identity's DN (`C=US, ST=WA, O=Acme\, Inc.`): RFC 4514 escapes `\,` `\+`
 * `\\` `\;` `\"` `\=`; `S` is an alias of `ST` (trust-store-trust-policy.md).
 */
export function parseDn(dn: string): Rdn[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\') {
      if (i + 1 >= dn.length) throw new ModelsealError('POLICY_INVALID', `trusted identity ${JSON.stringify(dn)} ends with a lone backslash`);
      cur += c + dn[++i];
    } else if (c === ',' || c === ';') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new ModelsealError('POLICY_INVALID', `trusted identity ${JSON.stringify(dn)}: ${JSON.stringify(p.trim())} is not TYPE=value`);
    let type = p.slice(0, eq).trim().toUpperCase();
    if (type === 'S') type = 'ST';
    const value = p.slice(eq + 1).trim().replace(/\\(.)/g, '$1');
    if (value === '') throw new ModelsealError('POLICY_INVALID', `trusted identity ${JSON.stringify(dn)}: ${type} is empty`);
    return { type, value };
  });
}
