import { createHash, X509Certificate } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { ModelsealError } from '../../errors.js';
import { parseStrictJson } from '../../formats/strict-json.js';
import { pemBlocks } from '../core/pem.js';
import { parseSigstoreBundle } from '../core/sigstore-verify.js';

/**
 * A cosign legacy `.sig` layer's keyless proof (certificate, chain, RekorBundle and RFC 3161
 * annotations) rebuilt as the v0.1 Sigstore bundle it is equivalent to (signing-formats.md §2.1),
 * so the one keyless verifier checks it: `messageSignature` over sha256(payload), the certificate
 * chain, and one tlog entry whose inclusion promise is the SET.
 */

export const ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

const MAX_ANNOTATION = 256 * 1024;

function invalid(msg: string): never {
  throw new ModelsealError('BUNDLE_INVALID', `cosign legacy signature: ${msg}`);
}

/** PEM certificates → DER, each parsed as X.509 so junk fails here with a clear reason. */
export function pemCertificates(text: string, what: string): Buffer[] {
  if (text.length > MAX_ANNOTATION) invalid(`${what} annotation is over ${MAX_ANNOTATION} bytes`);
  const blocks = pemBlocks(text, `cosign legacy signature: ${what} annotation`, 'BUNDLE_INVALID').filter((b) => b.label === 'CERTIFICATE');
  return blocks.map((b, i) => {
    try {
      return Buffer.from(new X509Certificate(b.der).raw);
    } catch {
      return invalid(`${what} certificate #${i + 1} is not a valid X.509 certificate`);
    }
  });
}

function jsonAnnotation(text: string, what: string): Record<string, unknown> {
  if (text.length > MAX_ANNOTATION) invalid(`${what} annotation is over ${MAX_ANNOTATION} bytes`);
  let doc: unknown;
  try {
    doc = parseStrictJson(text, what);
  } catch (err) {
    invalid(`${what} annotation is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) invalid(`${what} annotation is not a JSON object`);
  return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
}

function int(v: unknown, what: string): string {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) invalid(`RekorBundle ${what} is not a non-negative integer`);
  return String(v);
}

/** The Rekor entry kind and version, read from the canonicalized body the SET signs. */
function kindVersion(bodyB64: string): { kind: string; version: string } {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bodyB64, 'base64').toString('utf8'));
  } catch {
    return invalid('RekorBundle Payload.body is not base64 JSON');
  }
  const b = body as { kind?: unknown; apiVersion?: unknown };
  if (typeof b.kind !== 'string' || typeof b.apiVersion !== 'string') invalid('RekorBundle Payload.body has no kind/apiVersion');
  return { kind: b.kind, version: b.apiVersion };
}

/** The certificate chain (leaf first) a legacy layer carries, or [] for a plain-key signature. */
export function legacyChain(annotations: Record<string, string>): Buffer[] {
  const leaf = annotations[ANNOTATION.certificate];
  if (!leaf) return [];
  const certs = pemCertificates(leaf, 'certificate');
  if (certs.length !== 1) invalid(`certificate annotation holds ${certs.length} certificates, expected 1`);
  return [...certs, ...pemCertificates(annotations[ANNOTATION.chain] ?? '', 'chain')];
}

export function legacyKeylessBundle(payload: Uint8Array, annotations: Record<string, string>): Bundle {
  const chain = legacyChain(annotations);
  if (chain.length === 0) invalid('no certificate annotation: not a keyless signature');
  const sig = annotations[ANNOTATION.signature];
  if (!sig) invalid(`no ${ANNOTATION.signature} annotation`);
  const rb = annotations[ANNOTATION.bundle];
  if (!rb) throw new ModelsealError('TLOG_INVALID', 'cosign legacy signature: keyless, but no RekorBundle annotation (no transparency-log proof)');
  const rekor = jsonAnnotation(rb, 'RekorBundle');
  const p = rekor.Payload as Record<string, unknown> | undefined;
  if (typeof rekor.SignedEntryTimestamp !== 'string' || typeof p !== 'object' || p === null) invalid('RekorBundle lacks SignedEntryTimestamp or Payload');
  if (typeof p.body !== 'string' || typeof p.logID !== 'string' || !/^[0-9a-f]{64}$/.test(p.logID)) invalid('RekorBundle Payload lacks body or a hex logID');
  const ts = annotations[ANNOTATION.timestamp];
  const rfc3161 = ts ? jsonAnnotation(ts, 'rfc3161timestamp').SignedRFC3161Timestamp : undefined;
  if (ts && typeof rfc3161 !== 'string') invalid('rfc3161timestamp annotation lacks SignedRFC3161Timestamp');
  return parseSigstoreBundle({
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      x509CertificateChain: { certificates: chain.map((c) => ({ rawBytes: c.toString('base64') })) },
      tlogEntries: [{
        logIndex: int(p.logIndex, 'logIndex'),
        logId: { keyId: Buffer.from(p.logID, 'hex').toString('base64') },
        kindVersion: kindVersion(p.body),
        integratedTime: int(p.integratedTime, 'integratedTime'),
        inclusionPromise: { signedEntryTimestamp: rekor.SignedEntryTimestamp },
        canonicalizedBody: p.body,
      }],
      timestampVerificationData: { rfc3161Timestamps: typeof rfc3161 === 'string' ? [{ signedTimestamp: rfc3161 }] : [] },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: sig,
    },
  });
}
