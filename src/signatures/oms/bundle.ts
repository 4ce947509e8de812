import { ModelsealError } from '../../errors.js';
import { isPlainObject } from '../../formats/strict-json.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../core/dsse.js';
import { parseJsonBytes } from '../core/json-bytes.js';
import { parseStatement, type ParsedStatement } from './statement.js';

/** Real OMS bundles are a few KiB (a 100k-file manifest is ~15 MiB); anything bigger is refused unread. */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
/** Certificate chains longer than this are not real PKI, only work for a path builder. */
const MAX_CHAIN_CERTIFICATES = 10;

/** OMS requires bundle v0.3 (spec, model_signing `_BUNDLE_MEDIA_TYPE`); both spellings name it. */
export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
];

export type MaterialKind = 'key' | 'certificate' | 'sigstore';

/** What the bundle offers to identify the signer; none of it is trusted by itself. */
export interface BundleMaterial {
  kind: MaterialKind;
  /** Key method: `hint` (OMS v1.1, cosign) or `rawBytes` (OMS v0.3.1–v1.0.x, trap T6). */
  publicKey?: { hint?: string; rawBytes?: Buffer };
  /** Certificate method: DER, leaf first. */
  x509Chain: Buffer[];
  /** Keyless: the Fulcio leaf, DER. */
  certificate?: Buffer;
  tlogEntries: unknown[];
}

export interface ParsedBundle {
  /** The bundle as plain JSON (for sigstore-js); same bytes the strict parse accepted. */
  json: unknown;
  payloadType: string;
  /** Exact decoded payload bytes: what was signed (trap T9). */
  payload: Buffer;
  /** `signatures[0].sig`, the only signature there is (trap T20). */
  signature: Buffer;
  /** `signatures[0].keyid` when a non-empty string (trap T8: "", null and absent are all "none"). */
  keyid?: string;
  material: BundleMaterial;
  statement: ParsedStatement;
}

function invalid(message: string): never {
  throw new ModelsealError('BUNDLE_INVALID', `signature bundle: ${message}`);
}

const B64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/** protojson `bytes`: standard or URL-safe base64, padding optional; nothing else slips through. */
function base64Field(v: unknown, where: string): Buffer {
  if (typeof v !== 'string' || v === '') invalid(`${where} must be a non-empty base64 string`);
  const bare = v.replace(/=+$/, '');
  if (!B64.test(v) || bare.length % 4 === 1 || v.length - bare.length > (4 - (bare.length % 4)) % 4) {
    invalid(`${where} is not valid base64`);
  }
  return Buffer.from(bare, bare.includes('-') || bare.includes('_') ? 'base64url' : 'base64');
}

/** Parse and validate an OMS bundle; checks shape only, no signature. */
export function parseBundle(bytes: Uint8Array): ParsedBundle {
  if (bytes.length > MAX_BUNDLE_BYTES) {
    throw new ModelsealError('BUNDLE_TOO_LARGE', `signature bundle is ${bytes.length} bytes, more than the ${MAX_BUNDLE_BYTES}-byte limit`);
  }
  const { text, value: doc } = parseJsonBytes(bytes, 'BUNDLE_INVALID', 'signature bundle');
  if (!isPlainObject(doc)) invalid('not a JSON object');
  if (typeof doc.mediaType !== 'string' || !BUNDLE_MEDIA_TYPES.includes(doc.mediaType)) {
    invalid(`mediaType ${JSON.stringify(doc.mediaType)} is not a Sigstore bundle v0.3`);
  }
  const env = doc.dsseEnvelope;
  if (!isPlainObject(env)) {
    invalid(doc.messageSignature !== undefined ? 'holds a message signature; OMS needs a dsseEnvelope' : 'has no dsseEnvelope');
  }
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new ModelsealError('PAYLOAD_INVALID', `signature bundle: payloadType ${JSON.stringify(env.payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  const payload = base64Field(env.payload, 'dsseEnvelope.payload');
  const sigs = env.signatures;
  if (!Array.isArray(sigs) || sigs.length !== 1) {
    // Only one signature can count (trap T20); refusing more keeps every verifier looking at the same one.
    invalid(`dsseEnvelope has ${Array.isArray(sigs) ? sigs.length : 'no'} signatures; exactly one is supported`);
  }
  const sig0 = sigs[0];
  if (!isPlainObject(sig0)) invalid('dsseEnvelope.signatures[0] is not an object');
  const signature = base64Field(sig0.sig, 'dsseEnvelope.signatures[0].sig');
  const keyid = sig0.keyid;
  if (keyid !== undefined && keyid !== null && typeof keyid !== 'string') invalid('dsseEnvelope.signatures[0].keyid must be a string');

  const material = readMaterial(doc.verificationMaterial);
  const statement = parseStatement(payload);
  return {
    json: JSON.parse(text) as unknown,
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload,
    signature,
    ...(typeof keyid === 'string' && keyid !== '' ? { keyid } : {}),
    material,
    statement,
  };
}

function readMaterial(vm: unknown): BundleMaterial {
  if (!isPlainObject(vm)) invalid('has no verificationMaterial');
  const present = (['publicKey', 'x509CertificateChain', 'certificate'] as const).filter((k) => vm[k] !== undefined && vm[k] !== null);
  if (present.length !== 1) {
    invalid(`verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate (found ${present.length})`);
  }
  const tlog = vm.tlogEntries ?? [];
  if (!Array.isArray(tlog)) invalid('verificationMaterial.tlogEntries must be an array');
  const base = { x509Chain: [] as Buffer[], tlogEntries: tlog as unknown[] };

  if (present[0] === 'publicKey') {
    const pk = vm.publicKey;
    if (!isPlainObject(pk)) invalid('verificationMaterial.publicKey must be an object');
    const hint = pk.hint;
    if (hint !== undefined && hint !== null && typeof hint !== 'string') invalid('verificationMaterial.publicKey.hint must be a string');
    const rawBytes = pk.rawBytes === undefined || pk.rawBytes === null ? undefined : base64Field(pk.rawBytes, 'verificationMaterial.publicKey.rawBytes');
    return {
      ...base,
      kind: 'key',
      publicKey: { ...(typeof hint === 'string' && hint !== '' ? { hint } : {}), ...(rawBytes ? { rawBytes } : {}) },
    };
  }
  if (present[0] === 'x509CertificateChain') {
    const chain = vm.x509CertificateChain;
    const certs = isPlainObject(chain) ? chain.certificates : undefined;
    if (!Array.isArray(certs) || certs.length === 0) invalid('verificationMaterial.x509CertificateChain.certificates must be a non-empty array');
    if (certs.length > MAX_CHAIN_CERTIFICATES) invalid(`certificate chain has ${certs.length} certificates, more than ${MAX_CHAIN_CERTIFICATES}`);
    const x509Chain = certs.map((c, i) =>
      base64Field(isPlainObject(c) ? c.rawBytes : undefined, `x509CertificateChain.certificates[${i}].rawBytes`),
    );
    return { ...base, kind: 'certificate', x509Chain };
  }
  const cert = vm.certificate;
  const certificate = base64Field(isPlainObject(cert) ? cert.rawBytes : undefined, 'verificationMaterial.certificate.rawBytes');
  return { ...base, kind: 'sigstore', certificate };
}
