import { checkCertCount, checkProtected, envelopeError, HEADER, type NotationAlg, type NotationEnvelope, ALGS } from './envelope.js';
import { rfc3339, strictJsonObject } from './json.js';

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TOP_LEVEL = ['payload', 'protected', 'header', 'signature'];

/**
 * base64url without padding, strictly: Node's decoder silently accepts `=` and stray characters,
 * where the spec (and Go) fail (vector ca_invalid: a padded payload).
 */
function b64url(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || !B64URL.test(v) || v.length % 4 === 1) envelopeError(`${what} is not unpadded base64url`);
  return Buffer.from(v, 'base64url');
}

function b64std(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || v === '' || !B64STD.test(v)) envelopeError(`${what} is not standard base64`);
  return Buffer.from(v, 'base64');
}

/** JWS JSON flattened serialization (signature-envelope-jws.md): exactly four members. */
export function parseJws(bytes: Buffer): NotationEnvelope {
  const top = strictJsonObject(bytes, 'JWS envelope');
  const keys = Object.keys(top);
  if (keys.length !== TOP_LEVEL.length || !TOP_LEVEL.every((k) => keys.includes(k))) {
    envelopeError(`JWS must have exactly the members ${TOP_LEVEL.join(', ')} (has ${keys.join(', ')})`);
  }
  const protectedB64 = top.protected as string;
  const payloadB64 = top.payload as string;
  const ph = strictJsonObject(b64url(protectedB64, 'protected header'), 'JWS protected header');
  const payload = b64url(payloadB64, 'payload');
  const signature = b64url(top.signature, 'signature');
  if (typeof ph.alg !== 'string' || !(ALGS as readonly string[]).includes(ph.alg)) envelopeError(`alg ${JSON.stringify(ph.alg)} is not one of ${ALGS.join(', ')}`);
  const time = (k: string) => (ph[k] === undefined ? undefined : rfc3339(ph[k], k));
  const signingTime = time(HEADER.signingTime);
  const authenticSigningTime = time(HEADER.authenticSigningTime);
  const expiry = time(HEADER.expiry);
  const fields = checkProtected({
    cty: ph.cty,
    crit: ph.crit,
    scheme: ph[HEADER.signingScheme],
    ...(signingTime ? { signingTime } : {}),
    ...(authenticSigningTime ? { authenticSigningTime } : {}),
    ...(expiry ? { expiry } : {}),
    present: new Set(Object.keys(ph)),
  });

  const header = top.header;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) envelopeError('unprotected header must be an object');
  const h = header as Record<string, unknown>;
  if (!Array.isArray(h.x5c)) envelopeError('unprotected header has no x5c certificate list');
  const certs = checkCertCount(h.x5c.map((c, i) => b64std(c, `x5c[${i}]`)));
  const ts = h[HEADER.timestampSignature];
  return {
    format: 'jws',
    alg: ph.alg as NotationAlg,
    // RFC 7515 §5.2: the signature covers the two encoded strings exactly as they were sent.
    signingInput: Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'),
    signature,
    payload,
    certs,
    ...(ts === undefined ? {} : { timestampToken: b64std(ts, HEADER.timestampSignature) }),
    ...fields,
  };
}
