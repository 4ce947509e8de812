import { ModelsealError } from '../../errors.js';

/**
 * A Notation signature envelope after parsing, format-neutral (Notary Project
 * signature-specification.md, signature-envelope-{jws,cose}.md). Nothing here is verified yet.
 */
export interface NotationEnvelope {
  format: 'jws' | 'cose';
  alg: NotationAlg;
  /** Exactly the bytes the signature covers (JWS: `protected.payload` ASCII; COSE: Sig_structure). */
  signingInput: Buffer;
  /** Raw signature bytes (ECDSA as r||s); the RFC 3161 token countersigns exactly these. */
  signature: Buffer;
  payload: Buffer;
  /** x5c / x5chain DER certificates, leaf first. */
  certs: Buffer[];
  timestampToken?: Buffer;
  scheme: SigningScheme;
  signingTime?: Date;
  authenticSigningTime?: Date;
  expiry?: Date;
}

export const MEDIA_TYPE = { jws: 'application/jose+json', cose: 'application/cose' } as const;
export const PAYLOAD_CONTENT_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
export const SCHEMES = ['notary.x509', 'notary.x509.signingAuthority'] as const;
export type SigningScheme = (typeof SCHEMES)[number];
export const ALGS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type NotationAlg = (typeof ALGS)[number];

export const HEADER = {
  signingScheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  verificationPlugin: 'io.cncf.notary.verificationPlugin',
  verificationPluginMinVersion: 'io.cncf.notary.verificationPluginMinVersion',
  timestampSignature: 'io.cncf.notary.timestampSignature',
} as const;

/** Envelopes are small; notation-go caps them at 4 MiB too. */
export const MAX_ENVELOPE_BYTES = 4 * 1024 * 1024;
const MAX_CERTS = 10;

export function envelopeError(message: string): never {
  throw new ModelsealError('BUNDLE_INVALID', `Notation envelope: ${message}`, { details: { check: 'integrity' } });
}

/** The protected header's Notation fields, as either format decoded them. */
export interface ProtectedFields {
  cty: unknown;
  crit: unknown;
  scheme: unknown;
  signingTime?: Date;
  authenticSigningTime?: Date;
  expiry?: Date;
  /** Names of the protected header fields that are present (for the `crit` presence rule). */
  present: Set<string>;
}

/** Names an implementation may mark critical and still understand. */
const UNDERSTOOD_CRITICAL = new Set<string>([HEADER.signingScheme, HEADER.authenticSigningTime, HEADER.expiry]);

/**
 * The protected-header rules both formats share (signature-specification.md "Signature
 * Envelope"): the payload content type, a `crit` naming the signing scheme and every present
 * authenticSigningTime/expiry/plugin field, nothing critical that we do not implement (a
 * verifier without the named plugin MUST fail, spec "Guidelines for implementations").
 */
export function checkProtected(p: ProtectedFields): { scheme: SigningScheme; signingTime?: Date; authenticSigningTime?: Date; expiry?: Date } {
  if (p.cty !== PAYLOAD_CONTENT_TYPE) envelopeError(`content type is ${JSON.stringify(p.cty)}, not ${PAYLOAD_CONTENT_TYPE}`);
  if (!Array.isArray(p.crit) || p.crit.length === 0 || !p.crit.every((c) => typeof c === 'string')) envelopeError('crit must be a non-empty list of header names');
  const crit = p.crit as string[];
  if (new Set(crit).size !== crit.length) envelopeError('crit lists a header twice');
  for (const name of crit) if (!p.present.has(name)) envelopeError(`crit names ${name}, which the protected header does not carry`);
  for (const must of [HEADER.signingScheme, HEADER.authenticSigningTime, HEADER.expiry, HEADER.verificationPlugin, HEADER.verificationPluginMinVersion]) {
    if (p.present.has(must) && !crit.includes(must)) envelopeError(`${must} must be listed in crit`);
  }
  if (crit.includes(HEADER.verificationPlugin)) {
    envelopeError('requires a Notation verification plugin, which modelseal does not run (a verifier without the plugin must fail)');
  }
  const unknown = crit.filter((c) => !UNDERSTOOD_CRITICAL.has(c));
  if (unknown.length) envelopeError(`critical header(s) ${unknown.join(', ')} are not understood`);
  if (typeof p.scheme !== 'string' || !(SCHEMES as readonly string[]).includes(p.scheme)) envelopeError(`signing scheme ${JSON.stringify(p.scheme)} is not supported`);
  const scheme = p.scheme as SigningScheme;
  if (scheme === 'notary.x509') {
    if (!p.signingTime) envelopeError('notary.x509 requires io.cncf.notary.signingTime');
    if (p.present.has(HEADER.authenticSigningTime)) envelopeError('notary.x509 must not carry io.cncf.notary.authenticSigningTime');
  } else if (!p.authenticSigningTime) envelopeError('notary.x509.signingAuthority requires io.cncf.notary.authenticSigningTime');
  return {
    scheme,
    ...(p.signingTime ? { signingTime: p.signingTime } : {}),
    ...(p.authenticSigningTime ? { authenticSigningTime: p.authenticSigningTime } : {}),
    ...(p.expiry ? { expiry: p.expiry } : {}),
  };
}

export function checkCertCount(certs: Buffer[]): Buffer[] {
  if (certs.length === 0) envelopeError('carries no certificate chain');
  if (certs.length > MAX_CERTS) envelopeError(`carries ${certs.length} certificates, over the limit of ${MAX_CERTS}`);
  return certs;
}

/** Parse by the envelope media type named in the signature manifest's layer. */
export async function parseEnvelope(bytes: Uint8Array, mediaType: string): Promise<NotationEnvelope> {
  if (bytes.length > MAX_ENVELOPE_BYTES) envelopeError(`is ${bytes.length} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit`);
  if (mediaType === MEDIA_TYPE.jws) return (await import('./jws.js')).parseJws(Buffer.from(bytes));
  if (mediaType === MEDIA_TYPE.cose) return (await import('./cose.js')).parseCose(Buffer.from(bytes));
  return envelopeError(`media type ${JSON.stringify(mediaType)} is neither ${MEDIA_TYPE.jws} nor ${MEDIA_TYPE.cose}`);
}
