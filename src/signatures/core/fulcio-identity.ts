import { X509Certificate } from '@sigstore/core';

const ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

/**
 * The identity a Fulcio certificate binds (SAN and OIDC issuer), read the way @sigstore/verify
 * reads it (issuer .1.8 as a DER UTF8String, else the legacy raw .1.1), so the name logged at
 * signing is the name a verifier's policy must pin.
 */
export function fulcioIdentity(certificate: string | Buffer<ArrayBuffer>): { identity?: string; issuer?: string } {
  const cert = X509Certificate.parse(certificate);
  const v2 = cert.extension(ISSUER_V2);
  const issuer = v2 ? v2.valueObj.subs[0]?.value.toString('utf8') : cert.extension(ISSUER_V1)?.value.toString('utf8');
  return { identity: cert.subjectAltName, issuer };
}

/** The signer of a keyless bundle this tool just wrote (v0.3: `verificationMaterial.certificate`). */
export function bundleSigner(bundleJson: string): { identity?: string; issuer?: string } {
  const raw = (JSON.parse(bundleJson) as { verificationMaterial?: { certificate?: { rawBytes?: string } } }).verificationMaterial?.certificate?.rawBytes;
  return raw === undefined ? {} : fulcioIdentity(Buffer.from(raw, 'base64'));
}
