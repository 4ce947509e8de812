import { ModelsealError } from '../../errors.js';
import type { Manifest } from '../../model/types.js';
import { BUNDLE_MEDIA_TYPES } from './bundle.js';
import { IN_TOTO_PAYLOAD_TYPE, pae } from '../core/dsse.js';
import { omsKeyHint, spkiDer } from '../core/key-ids.js';
import { loadCertificates } from '../core/keys.js';
import { statementPayload } from './payload.js';
import { signingPublicKey, signWithKey, type SignerSpec } from '../core/signer.js';

type CertificateSpec = Extract<SignerSpec, { kind: 'certificate' }>;

/** Leaf first, then the chain, as DER (model_signing sign_certificate): the verifier's anchors stay out. */
function certificateChain(spec: CertificateSpec): Buffer[] {
  const leaves = loadCertificates(spec.leafPem, 'signing certificate');
  if (leaves.length !== 1) throw new ModelsealError('USAGE', `the signing certificate file holds ${leaves.length} certificates; give the chain separately`);
  const leaf = leaves[0]!;
  if (!spkiDer(leaf.publicKey).equals(spkiDer(signingPublicKey(spec.privateKey)))) {
    throw new ModelsealError('KEY_INVALID', 'the signing certificate is not for this private key');
  }
  const chain = spec.chainPems.flatMap((pem, i) => loadCertificates(pem, `certificate chain file #${i + 1}`));
  return [leaf, ...chain].map((c) => c.raw);
}

/**
 * Sign a manifest as an OMS v1.0 bundle (JSON text). Key and certificate methods sign offline
 * with the curve's hash (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512); keyless goes to Sigstore.
 */
export async function signManifest(manifest: Manifest, signer: SignerSpec): Promise<string> {
  const payload = statementPayload(manifest);
  // Keyless signing pulls in the whole @sigstore/sign stack: load it only when asked for.
  if (signer.kind === 'sigstore') return (await import('../core/sigstore-sign.js')).signSigstore(payload, signer);

  const verificationMaterial =
    signer.kind === 'key'
      ? { publicKey: { hint: omsKeyHint(signingPublicKey(signer.privateKey)) }, tlogEntries: [] }
      : { x509CertificateChain: { certificates: certificateChain(signer).map((der) => ({ rawBytes: der.toString('base64') })) }, tlogEntries: [] };
  const signature = await signWithKey(signer.privateKey, pae(IN_TOTO_PAYLOAD_TYPE, payload));
  // RFC 3161 over the signature (model_signing-go and cosign `--timestamp-server-url`): proves when it existed.
  const timestampVerificationData = signer.tsaUrl
    ? { rfc3161Timestamps: [{ signedTimestamp: (await (await import('./tsa-client.js')).requestTimestamp(signer.tsaUrl, signature)).toString('base64') }] }
    : undefined;
  return JSON.stringify({
    mediaType: BUNDLE_MEDIA_TYPES[0],
    verificationMaterial: timestampVerificationData ? { ...verificationMaterial, timestampVerificationData } : verificationMaterial,
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: signature.toString('base64'), keyid: '' }],
    },
  });
}
