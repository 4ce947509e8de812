import { createHash, randomBytes } from 'node:crypto';
import { RFC3161Timestamp } from '@sigstore/core';
import { ModelsealError } from '../../errors.js';

/**
 * RFC 3161 time-stamping over HTTP (RFC 3161 §3.4: POST `application/timestamp-query`, reply
 * `application/timestamp-reply`), as cosign's `--timestamp-server-url` and model_signing-go use
 * it: the imprint is SHA-256 of the signature bytes, so the token proves the signature existed at
 * `genTime`. Any RFC 3161 TSA answers this (OpenSSL `ts`, sigstore's timestamp-authority, public
 * TSAs). The reply is checked to be for this request (status, imprint, nonce) before it goes into
 * the bundle; whether its signer is trusted is the verifier's question.
 */

const TIMEOUT_MS = 30_000;
const MAX_REPLY = 256 * 1024;
const SHA256_OID = Buffer.from('0609608648016503040201', 'hex'); // 2.16.840.1.101.3.4.2.1

function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, value]);
}

/** A positive DER INTEGER from unsigned big-endian bytes. */
function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
  return tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** TimeStampReq { version 1, messageImprint { sha256, hash }, nonce, certReq TRUE }. */
export function timeStampRequest(imprint: Buffer, nonce: Buffer): Buffer {
  const algorithm = tlv(0x30, Buffer.concat([SHA256_OID, Buffer.from([0x05, 0x00])]));
  const messageImprint = tlv(0x30, Buffer.concat([algorithm, tlv(0x04, imprint)]));
  return tlv(0x30, Buffer.concat([integer(Buffer.from([1])), messageImprint, integer(nonce), Buffer.from([0x01, 0x01, 0xff])]));
}

/** Ask the TSA to stamp `signature`; returns the DER TimeStampResp the bundle stores. */
export async function requestTimestamp(tsaUrl: string, signature: Buffer): Promise<Buffer<ArrayBuffer>> {
  let url: URL;
  try {
    url = new URL(tsaUrl);
  } catch {
    throw new ModelsealError('USAGE', `--tsa-url ${JSON.stringify(tsaUrl)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ModelsealError('USAGE', `--tsa-url must be http(s), not ${url.protocol}`);
  const imprint = createHash('sha256').update(signature).digest();
  // 63 random bits, positive: some TSAs cap the nonce at 64 signed bits.
  const nonce = randomBytes(8);
  nonce[0]! &= 0x7f;
  let reply: Buffer<ArrayBuffer>;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: timeStampRequest(imprint, nonce),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    if (!res.ok) throw new ModelsealError('NETWORK', `timestamp authority ${url.origin} answered HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_REPLY) throw new ModelsealError('NETWORK', `timestamp reply of ${declared} bytes is over ${MAX_REPLY}`);
    reply = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if (err instanceof ModelsealError) throw err;
    throw new ModelsealError('NETWORK', `timestamp authority ${url.origin} unreachable: ${(err as Error).message}`, { cause: err });
  }
  if (reply.length > MAX_REPLY) throw new ModelsealError('NETWORK', `timestamp reply of ${reply.length} bytes is over ${MAX_REPLY}`);
  checkReply(reply, imprint, nonce, url.origin);
  return reply;
}

/** The reply answers this request: granted, our imprint, our nonce. */
function checkReply(reply: Buffer<ArrayBuffer>, imprint: Buffer, nonce: Buffer, origin: string): void {
  const fail = (why: string): never => {
    throw new ModelsealError('NETWORK', `timestamp authority ${origin}: ${why}`);
  };
  let ts: RFC3161Timestamp;
  let status: number;
  try {
    ts = RFC3161Timestamp.parse(reply);
    status = Number(ts.status);
  } catch (err) {
    return fail(`reply is not an RFC 3161 TimeStampResp (${(err as Error).message})`);
  }
  // PKIStatus granted (0) or grantedWithMods (1).
  if (status !== 0 && status !== 1) fail(`request refused (PKIStatus ${status})`);
  try {
    if (ts.tstInfo.messageImprintHashAlgorithm !== 'sha256' || !ts.tstInfo.messageImprintHashedMessage.equals(imprint)) fail('token is for another message imprint');
    const tst = ts.tstInfo.root.subs;
    // TSTInfo: version, policy, messageImprint, serialNumber, genTime, then optional accuracy, ordering, nonce …
    const got = tst.slice(5).find((s) => s.tag.isInteger());
    if (!got || BigInt(got.toInteger()) !== BigInt(`0x${nonce.toString('hex')}`)) fail('token does not carry our nonce');
    if (Number.isNaN(ts.signingTime.getTime())) fail('token has no readable genTime');
  } catch (err) {
    if (err instanceof ModelsealError) throw err;
    fail(`malformed token (${(err as Error).message})`);
  }
}
