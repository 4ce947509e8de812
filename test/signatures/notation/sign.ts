import { constants, sign, X509Certificate, type KeyObject } from 'node:crypto';
import cbor from 'cbor';

/**
 * A test-side Notation signer (JWS and COSE) written from the spec, so tests can make envelopes
 * with real keys and vary one field at a time. Never used by src/.
 */
export interface EnvelopeSpec {
  key: KeyObject;
  /** PEM certificates, leaf first. */
  chain: string[];
  alg: 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';
  subject: { digest: string; mediaType: string; size: number };
  scheme?: string;
  signingTime?: Date;
  authenticSigningTime?: Date;
  expiry?: Date;
  /** Defaults to the fields the spec requires critical. */
  crit?: string[];
  cty?: string;
  /** Extra protected header fields (JWS: JSON values; COSE: CBOR values). */
  extra?: Record<string, unknown>;
  /** Makes the RFC 3161 token over the raw signature bytes. */
  timestamp?: (signature: Buffer) => Buffer;
  payload?: Buffer;
}

const H = {
  scheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authentic: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  ts: 'io.cncf.notary.timestampSignature',
};

export const der = (pem: string): Buffer => new X509Certificate(pem).raw;

export function payloadFor(subject: EnvelopeSpec['subject']): Buffer {
  return Buffer.from(JSON.stringify({ targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }));
}

export function rawSign(alg: EnvelopeSpec['alg'], key: KeyObject, input: Buffer): Buffer {
  const bits = Number(alg.slice(2));
  const hash = `sha${bits}`;
  return alg.startsWith('PS')
    ? sign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 })
    : sign(hash, input, { key, dsaEncoding: 'ieee-p1363' });
}

function defaults(s: EnvelopeSpec) {
  const scheme = s.scheme ?? 'notary.x509';
  const signingTime = s.signingTime ?? (scheme === 'notary.x509' ? new Date(Math.floor(Date.now() / 1000) * 1000) : undefined);
  const crit = s.crit ?? [H.scheme, ...(s.authenticSigningTime ? [H.authentic] : []), ...(s.expiry ? [H.expiry] : [])];
  return { scheme, signingTime, crit, cty: s.cty ?? 'application/vnd.cncf.notary.payload.v1+json', payload: s.payload ?? payloadFor(s.subject) };
}

export function signJws(s: EnvelopeSpec, tweak: { topLevel?: Record<string, unknown>; protectedJson?: (json: string) => string } = {}): Buffer {
  const d = defaults(s);
  const ph: Record<string, unknown> = { alg: s.alg, crit: d.crit, cty: d.cty, [H.scheme]: d.scheme };
  if (d.signingTime) ph[H.signingTime] = d.signingTime.toISOString();
  if (s.authenticSigningTime) ph[H.authentic] = s.authenticSigningTime.toISOString();
  if (s.expiry) ph[H.expiry] = s.expiry.toISOString();
  Object.assign(ph, s.extra ?? {});
  let json = JSON.stringify(ph);
  if (tweak.protectedJson) json = tweak.protectedJson(json);
  const protectedB64 = Buffer.from(json).toString('base64url');
  const payloadB64 = d.payload.toString('base64url');
  const sig = rawSign(s.alg, s.key, Buffer.from(`${protectedB64}.${payloadB64}`));
  const header: Record<string, unknown> = { x5c: s.chain.map((c) => der(c).toString('base64')), 'io.cncf.notary.signingAgent': 'modelseal-test' };
  if (s.timestamp) header[H.ts] = s.timestamp(sig).toString('base64');
  return Buffer.from(JSON.stringify({ payload: payloadB64, protected: protectedB64, header, signature: sig.toString('base64url'), ...tweak.topLevel }));
}

const COSE_ALG = { PS256: -37, PS384: -38, PS512: -39, ES256: -7, ES384: -35, ES512: -36 } as const;
const epoch = (t: Date) => new cbor.Tagged(1, Math.floor(t.getTime() / 1000));

export function signCose(
  s: EnvelopeSpec,
  tweak: { time?: (t: Date) => unknown; x5chain?: (ders: Buffer[]) => unknown; untagged?: boolean } = {},
): Buffer {
  const d = defaults(s);
  const time = tweak.time ?? epoch;
  const ph = new Map<unknown, unknown>([[1, COSE_ALG[s.alg]], [2, d.crit], [3, d.cty], [H.scheme, d.scheme]]);
  if (d.signingTime) ph.set(H.signingTime, time(d.signingTime));
  if (s.authenticSigningTime) ph.set(H.authentic, time(s.authenticSigningTime));
  if (s.expiry) ph.set(H.expiry, time(s.expiry));
  for (const [k, v] of Object.entries(s.extra ?? {})) ph.set(k, v);
  const protectedBytes = cbor.encode(ph);
  const sig = rawSign(s.alg, s.key, cbor.encode(['Signature1', protectedBytes, Buffer.alloc(0), d.payload]));
  const ders = s.chain.map(der);
  const unprotected = new Map<unknown, unknown>([[33, tweak.x5chain ? tweak.x5chain(ders) : ders], ['io.cncf.notary.signingAgent', 'modelseal-test']]);
  if (s.timestamp) unprotected.set(H.ts, s.timestamp(sig));
  const msg = [protectedBytes, unprotected, d.payload, sig];
  return cbor.encode(tweak.untagged ? msg : new cbor.Tagged(18, msg));
}
