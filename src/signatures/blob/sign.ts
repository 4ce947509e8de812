import { bundleToJSON, toDSSEBundle, toMessageSignatureBundle, type Bundle } from '@sigstore/bundle';
import { dsse, pem } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { ModelsealError } from '../../errors.js';
import { fileDigest, parseInTotoStatement } from './verify.js';
import { digestNameForCurve, ecCurveOf, hashForCurve } from '../core/ecdsa-curves.js';
import { EphemeralP256, fromSignError, fulcioSigner, signSigstore, witness, type SigstoreSignerSpec } from '../core/sigstore-sign.js';
import { cosignKeyHint } from '../core/key-ids.js';
import { signDigestWithKey, signingPublicKey, signWithKey, type SignerSpec, type SigningKey } from '../core/signer.js';

/**
 * cosign-compatible `sign-blob --bundle` (v0.3 bundle, `messageSignature`) and `attest-blob`
 * style DSSE in-toto bundles for our own attestations. The file is hashed as a stream and the
 * digest signed directly (pitfall 4), so blob size is bounded only by the disk.
 */

const IN_TOTO = 'application/vnd.in-toto+json';

/** `cosign sign-blob --bundle`: key (hint = cosign's base64 SHA-256 of SPKI DER, no tlog) or keyless. */
export async function signBlob(filePath: string, signer: SignerSpec): Promise<string> {
  switch (signer.kind) {
    case 'key':
      return signBlobWithKey(filePath, signer.privateKey);
    case 'sigstore':
      return signBlobKeyless(filePath, signer);
    case 'certificate':
      throw new ModelsealError('USAGE', 'blob signing supports a private key or Sigstore keyless, not a certificate chain');
  }
}

async function signBlobWithKey(filePath: string, privateKey: SigningKey): Promise<string> {
  const publicKey = signingPublicKey(privateKey);
  const curve = ecCurveOf(publicKey);
  const digest = await fileDigest(filePath, hashForCurve(curve));
  const bundle = toMessageSignatureBundle({ digest, signature: await signDigestWithKey(privateKey, digest), keyHint: cosignKeyHint(publicKey) });
  // @sigstore/bundle always writes SHA2_256; cosign records the curve's hash.
  if (bundle.content.$case === 'messageSignature' && bundle.content.messageSignature.messageDigest) {
    bundle.content.messageSignature.messageDigest.algorithm = HashAlgorithm[digestNameForCurve(curve)];
  }
  return serialize(bundle);
}

async function signBlobKeyless(filePath: string, spec: SigstoreSignerSpec): Promise<string> {
  const key = new EphemeralP256();
  // FulcioSigner proves possession and returns the certificate; its signature over nothing is discarded
  // because the blob itself is signed below as a digest.
  let certificatePem: string;
  try {
    const issued = await fulcioSigner(spec, key).sign(Buffer.alloc(0));
    if (issued.key.$case !== 'x509Certificate') throw new ModelsealError('INTERNAL', 'Fulcio returned no certificate');
    certificatePem = issued.key.certificate;
  } catch (err) {
    throw fromSignError(err);
  }
  const digest = await fileDigest(filePath, 'sha256');
  const signature = await signDigestWithKey(key.privateKey, digest);
  const bundle = toMessageSignatureBundle({ digest, signature, certificate: pem.toDER(certificatePem), certificateChain: false });
  const { tlogEntries, rfc3161Timestamps } = await witness(spec, bundle.content, certificatePem);
  bundle.verificationMaterial.tlogEntries = tlogEntries;
  bundle.verificationMaterial.timestampVerificationData = { rfc3161Timestamps };
  return serialize(bundle);
}

/**
 * An in-toto Statement signed into a v0.3 DSSE bundle (payloadType application/vnd.in-toto+json).
 * The statement bytes are signed exactly as given (trap T9: never re-serialized).
 */
export async function signStatement(statementJson: Buffer, signer: SignerSpec): Promise<string> {
  parseInTotoStatement(statementJson, ['https://in-toto.io/Statement/v1']);
  switch (signer.kind) {
    case 'sigstore':
      return signSigstore(statementJson, signer);
    case 'key': {
      const sig = await signWithKey(signer.privateKey, dsse.preAuthEncoding(IN_TOTO, statementJson));
      const bundle = toDSSEBundle({ artifact: statementJson, artifactType: IN_TOTO, signature: sig, keyHint: cosignKeyHint(signingPublicKey(signer.privateKey)) });
      return serialize(bundle);
    }
    case 'certificate': {
      const sig = await signWithKey(signer.privateKey, dsse.preAuthEncoding(IN_TOTO, statementJson));
      const chain = [signer.leafPem, ...signer.chainPems].map((p, i) => {
        try {
          return pem.toDER(p);
        } catch (err) {
          throw new ModelsealError('KEY_INVALID', `certificate #${i + 1} is not PEM`, { cause: err });
        }
      });
      const bundle = toDSSEBundle({ artifact: statementJson, artifactType: IN_TOTO, signature: sig });
      // OMS' certificate form: v0.3 media type with the whole chain, leaf first (signing-formats.md §1.1).
      bundle.verificationMaterial.content = { $case: 'x509CertificateChain', x509CertificateChain: { certificates: chain.map((rawBytes) => ({ rawBytes })) } };
      return serialize(bundle);
    }
  }
}

/** protojson drops empty lists; cosign and OMS key bundles spell out `"tlogEntries": []`. */
function serialize(bundle: Bundle): string {
  const json = bundleToJSON(bundle) as { verificationMaterial?: { tlogEntries?: unknown[] } };
  if (json.verificationMaterial && json.verificationMaterial.tlogEntries === undefined) json.verificationMaterial.tlogEntries = [];
  return `${JSON.stringify(json)}\n`;
}
