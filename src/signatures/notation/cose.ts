import cbor from 'cbor';
import { checkCertCount, checkProtected, envelopeError, HEADER, type NotationAlg, type NotationEnvelope } from './envelope.js';

/** COSE algorithm labels (RFC 9053 / IANA) Notation allows. */
const ALG_BY_LABEL = new Map<number, NotationAlg>([
  [-37, 'PS256'], [-38, 'PS384'], [-39, 'PS512'], [-7, 'ES256'], [-35, 'ES384'], [-36, 'ES512'],
]);
const LABEL = { alg: 1, crit: 2, contentType: 3, x5chain: 33 } as const;
const COSE_SIGN1_TAG = 18;
const EPOCH_TIME_TAG = 1;

/**
 * Every tag stays a `Tagged` value: the library would otherwise turn tag 0 strings into Dates
 * (Notation requires tag 1, and Go's decoder rejects anything else), or build RegExps and URLs
 * from hostile input.
 */
const RAW_TAGS = Object.fromEntries(Object.keys(cbor.Tagged.TAGS).map((t) => [t, null])) as unknown as Record<string, never>;

function decode(bytes: Buffer, what: string): unknown {
  try {
    return cbor.Decoder.decodeFirstSync(bytes, { tags: RAW_TAGS, max_depth: 16, preventDuplicateKeys: true, preferMap: true, required: true });
  } catch (err) {
    return envelopeError(`${what} is not valid CBOR (${(err as Error).message.split('\n')[0]})`);
  }
}

function bstr(v: unknown, what: string): Buffer {
  if (!Buffer.isBuffer(v)) envelopeError(`${what} must be a byte string`);
  return v;
}

/** A Notation time in COSE: CBOR tag 1 over an integer epoch (notation-core-go decodes with DecTagRequired). */
function epochTime(v: unknown, what: string): Date {
  if (!(v instanceof cbor.Tagged) || v.tag !== EPOCH_TIME_TAG || typeof v.value !== 'number' || !Number.isSafeInteger(v.value)) {
    envelopeError(`${what} must be a CBOR tag 1 integer epoch time`);
  }
  return new Date(v.value * 1000);
}

function asMap(v: unknown, what: string): Map<unknown, unknown> {
  if (!(v instanceof Map)) envelopeError(`${what} must be a CBOR map`);
  return v;
}

/** COSE_Sign1_Tagged (signature-envelope-cose.md): [protected bstr, unprotected map, payload bstr, signature bstr]. */
export function parseCose(bytes: Buffer): NotationEnvelope {
  const top = decode(bytes, 'COSE envelope');
  if (!(top instanceof cbor.Tagged) || top.tag !== COSE_SIGN1_TAG) envelopeError('is not a COSE_Sign1_Tagged message (CBOR tag 18)');
  const arr = top.value as unknown;
  if (!Array.isArray(arr) || arr.length !== 4) envelopeError('COSE_Sign1 must be an array of four elements');
  const protectedBytes = bstr(arr[0], 'protected header');
  const unprotected = asMap(arr[1], 'unprotected header');
  // A detached (nil) payload is not allowed: the payload is the signed descriptor.
  const payload = bstr(arr[2], 'payload');
  const signature = bstr(arr[3], 'signature');
  if (protectedBytes.length === 0) envelopeError('protected header is empty');
  const ph = asMap(decode(protectedBytes, 'protected header'), 'protected header');

  const label = ph.get(LABEL.alg);
  const alg = typeof label === 'number' ? ALG_BY_LABEL.get(label) : undefined;
  if (!alg) envelopeError(`alg ${String(label)} is not one of ${[...ALG_BY_LABEL.keys()].join(', ')}`);
  const present = new Set<string>();
  for (const k of ph.keys()) present.add(String(k));
  const time = (k: string) => (ph.has(k) ? epochTime(ph.get(k), k) : undefined);
  const signingTime = time(HEADER.signingTime);
  const authenticSigningTime = time(HEADER.authenticSigningTime);
  const expiry = time(HEADER.expiry);
  const fields = checkProtected({
    cty: ph.get(LABEL.contentType),
    // Integer labels in crit are COSE's own (alg, crit, …): none of them may be critical-unknown either.
    crit: Array.isArray(ph.get(LABEL.crit)) ? (ph.get(LABEL.crit) as unknown[]).map((c) => (typeof c === 'number' ? String(c) : c)) : ph.get(LABEL.crit),
    scheme: ph.get(HEADER.signingScheme),
    ...(signingTime ? { signingTime } : {}),
    ...(authenticSigningTime ? { authenticSigningTime } : {}),
    ...(expiry ? { expiry } : {}),
    present,
  });

  const chain = unprotected.get(LABEL.x5chain);
  // notation-go rejects a bare bstr x5chain although RFC 9360 allows it for one certificate.
  if (!Array.isArray(chain)) envelopeError('unprotected header has no x5chain (label 33) certificate array');
  const certs = checkCertCount(chain.map((c, i) => bstr(c, `x5chain[${i}]`)));
  const ts = unprotected.get(HEADER.timestampSignature);
  return {
    format: 'cose',
    alg,
    // RFC 9052 §4.4 Sig_structure, with the protected bytes exactly as received.
    signingInput: cbor.encode(['Signature1', protectedBytes, Buffer.alloc(0), payload]),
    signature,
    payload,
    certs,
    ...(ts === undefined ? {} : { timestampToken: bstr(ts, HEADER.timestampSignature) }),
    ...fields,
  };
}
