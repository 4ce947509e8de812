import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { bundleToJSON, type Bundle, type TransparencyLogEntry, type RFC3161SignedTimestamp } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, InternalError, RekorWitness, TSAWitness, type SignatureBundle, type Signer, type Witness } from '@sigstore/sign';
import { ModelsealError } from '../../errors.js';
import { logger } from '../../log.js';
import { fulcioIdentity } from './fulcio-identity.js';
import type { SignerSpec } from './signer.js';

export type SigstoreSignerSpec = Extract<SignerSpec, { kind: 'sigstore' }>;

const IN_TOTO = 'application/vnd.in-toto+json';
const TIMEOUT_MS = 30_000;
const RETRY = { retries: 2 };

/**
 * Keyless OMS signing: a fresh P-256 key, a Fulcio certificate binding it to the OIDC identity,
 * the DSSE envelope logged in Rekor (`dsse` entry) and, when a TSA is given, an RFC 3161
 * timestamp over the signature. Returns the v0.3 bundle JSON text.
 */
export async function signSigstore(payload: Buffer, spec: SigstoreSignerSpec): Promise<string> {
  const builder = new DSSEBundleBuilder({ signer: fulcioSigner(spec, new EphemeralP256()), witnesses: witnesses(spec) });
  let bundle: Bundle;
  try {
    bundle = await builder.create({ data: payload, type: IN_TOTO });
  } catch (err) {
    throw fromSignError(err);
  }
  return `${JSON.stringify(bundleToJSON(bundle))}\n`;
}

/** An ephemeral P-256 key that never leaves memory; the keyless signer for message signatures too. */
export class EphemeralP256 implements Signer {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.publicKeyPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }
  async sign(data: Buffer): Promise<{ signature: Buffer; key: { $case: 'publicKey'; publicKey: string } }> {
    return { signature: nodeSign('sha256', data, { key: this.privateKey, dsaEncoding: 'der' }), key: { $case: 'publicKey', publicKey: this.publicKeyPem } };
  }
}

export function fulcioSigner(spec: SigstoreSignerSpec, keyHolder: Signer): Signer {
  const fulcio = new FulcioSigner({
    identityProvider: { getToken: async () => spec.identityToken },
    fulcioBaseURL: spec.fulcioUrl,
    keyHolder,
    timeout: TIMEOUT_MS,
    retry: RETRY,
  });
  // Every keyless path (OMS, SBOM, cosign blob and digest) gets its certificate here: name the
  // identity Fulcio bound, which is what a verifier's policy has to pin.
  return {
    sign: async (data) => {
      const signed = await fulcio.sign(data);
      if (signed.key.$case === 'x509Certificate') {
        logger().info({ event_type: 'keyless_certificate', ...fulcioIdentity(signed.key.certificate) }, 'signing certificate issued');
      }
      return signed;
    },
  };
}

/** Rekor always; the TSA only when configured (public-good Rekor v1 also gives the signing time). */
export function witnesses(spec: SigstoreSignerSpec): Witness[] {
  const list: Witness[] = [
    new RekorWitness({ rekorBaseURL: spec.rekorUrl, entryType: 'dsse', majorApiVersion: spec.rekorApiVersion ?? 1, fetchOnConflict: true, timeout: TIMEOUT_MS, retry: RETRY }),
  ];
  if (spec.tsaUrl !== undefined) list.push(new TSAWitness({ tsaBaseURL: spec.tsaUrl, timeout: TIMEOUT_MS, retry: RETRY }));
  return list;
}

/** Run the witnesses over signed content (used by message-signature blobs, which build bundles themselves). */
export async function witness(
  spec: SigstoreSignerSpec,
  content: SignatureBundle,
  certificatePem: string,
): Promise<{ tlogEntries: TransparencyLogEntry[]; rfc3161Timestamps: RFC3161SignedTimestamp[] }> {
  const tlogEntries: TransparencyLogEntry[] = [];
  const rfc3161Timestamps: RFC3161SignedTimestamp[] = [];
  try {
    for (const w of witnesses(spec)) {
      const got = await w.testify(content, certificatePem);
      tlogEntries.push(...(got.tlogEntries ?? []));
      rfc3161Timestamps.push(...(got.rfc3161Timestamps ?? []));
    }
  } catch (err) {
    throw fromSignError(err);
  }
  return { tlogEntries, rfc3161Timestamps };
}

export function fromSignError(err: unknown): ModelsealError {
  if (err instanceof ModelsealError) return err;
  if (err instanceof InternalError) {
    const code = err.code.startsWith('IDENTITY_TOKEN') ? 'AUTH_FAILED' : 'NETWORK';
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    // The token parse error message embeds the token itself; never echo it.
    const message = err.code === 'IDENTITY_TOKEN_PARSE_ERROR' ? 'invalid OIDC identity token' : `${err.message}${cause}`;
    return new ModelsealError(code, `Sigstore signing failed (${err.code}): ${message}`, { cause: err, details: { sigstoreCode: err.code } });
  }
  return new ModelsealError('NETWORK', `Sigstore signing failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
