import { ModelsealError } from '../../errors.js';

/** A DER element: `tag` is the single identifier byte (high tag numbers never occur in X.509). */
export interface Tlv {
  tag: number;
  value: Buffer;
  /** The whole element (header and value) as it appears in the input: what a signature covers. */
  raw: Buffer;
}

function derError(what: string): never {
  throw new ModelsealError('CERTIFICATE_INVALID', `malformed DER: ${what}`);
}

function readAt(buf: Buffer, offset: number): { tlv: Tlv; next: number } {
  if (offset + 2 > buf.length) derError('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) derError('multi-byte tag');
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length bytes is never a certificate.
    if (n === 0 || n > 4) derError('unsupported length form');
    if (pos + n > buf.length) derError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    pos += n;
  }
  if (pos + len > buf.length) derError('element runs past its container');
  return { tlv: { tag, value: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) }, next: pos + len };
}

/** The elements that exactly fill `buf` (the content of a SEQUENCE, or a whole structure). */
export function children(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const { tlv, next } = readAt(buf, offset);
    out.push(tlv);
    offset = next;
  }
  return out;
}

/** `buf` must be exactly one element with the expected tag. */
export function single(buf: Buffer, tag: number, what: string): Tlv {
  const all = children(buf);
  if (all.length !== 1 || all[0]!.tag !== tag) derError(`${what} is not a single element with tag 0x${tag.toString(16)}`);
  return all[0]!;
}

export function decodeOid(value: Buffer): string {
  if (value.length === 0) derError('empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let acc = 0;
  for (const b of value) {
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER) derError('OBJECT IDENTIFIER arc too large');
    if (!(b & 0x80)) {
      arcs.push(acc);
      acc = 0;
    }
  }
  if (value[value.length - 1]! & 0x80) derError('truncated OBJECT IDENTIFIER');
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  EXTENSIONS: 0xa3,
} as const;
