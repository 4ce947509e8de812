import { createHash, sign, type KeyObject } from 'node:crypto';
import type { Manifest } from '../../src/model/types.js';
import { IN_TOTO_PAYLOAD_TYPE, legacyPae, pae } from '../../src/signatures/core/dsse.js';

const d = (s: string): string => createHash('sha256').update(s).digest('hex');

export const MANIFEST: Manifest = {
  modelName: 'tiny-model',
  serialization: { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] },
  resources: [
    { name: 'config.json', algorithm: 'sha256', digest: d('config') },
    { name: 'weights.safetensors', algorithm: 'sha256', digest: d('weights') },
  ],
};

export function rootOf(digests: string[]): string {
  return createHash('sha256').update(Buffer.concat(digests.map((x) => Buffer.from(x, 'hex')))).digest('hex');
}

/** A statement as the signer wrote it (plain object → JSON text), for payload-level tampering. */
export function statementJson(over: { subject?: unknown; predicateType?: string; _type?: string; predicate?: unknown } = {}): string {
  const resources = MANIFEST.resources;
  return JSON.stringify({
    _type: over._type ?? 'https://in-toto.io/Statement/v1',
    subject: over.subject ?? [{ name: 'tiny-model', digest: { sha256: rootOf(resources.map((r) => r.digest)) } }],
    predicateType: over.predicateType ?? 'https://model_signing/signature/v1.0',
    predicate: over.predicate ?? {
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: [] },
      resources,
    },
  });
}

/**
 * A bundle over arbitrary payload text, correctly signed by `key`, so that a rejection in a test
 * can only come from the check under test. `hash` and `legacy` forge the wrong encodings.
 */
export function bundleFor(
  payloadText: string,
  key: KeyObject,
  material: Record<string, unknown>,
  opts: { hash?: string; legacy?: boolean } = {},
): Record<string, unknown> {
  const payload = Buffer.from(payloadText, 'utf8');
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const hash = opts.hash ?? (curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256');
  const message = opts.legacy ? legacyPae(IN_TOTO_PAYLOAD_TYPE, payload) : pae(IN_TOTO_PAYLOAD_TYPE, payload);
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: material,
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sign(hash, message, { key, dsaEncoding: 'der' }).toString('base64'), keyid: '' }],
    },
  };
}

export const bytesOf = (bundle: unknown): Buffer => Buffer.from(JSON.stringify(bundle), 'utf8');
