import { createHash, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { IN_TOTO_PAYLOAD_TYPE, pae } from '../../../src/signatures/core/dsse.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import { MANIFEST } from '../../helpers/bundles.js';
import { TestPki } from '../../helpers/pki.js';

interface Bundle {
  mediaType: string;
  verificationMaterial: { publicKey?: { hint: string }; x509CertificateChain?: { certificates: { rawBytes: string }[] }; tlogEntries: unknown[] };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid: string }[] };
}

describe('sign → verify, key method', () => {
  for (const [curve, hash] of [['P-256', 'sha256'], ['P-384', 'sha384'], ['P-521', 'sha512']] as const) {
    it(`${curve} signs with ${hash} and verifies`, async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const text = await signManifest(MANIFEST, { kind: 'key', privateKey });
      const bundle = JSON.parse(text) as Bundle;
      expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      const pem = publicKey.export({ type: 'spki', format: 'pem' });
      expect(bundle.verificationMaterial).toEqual({ publicKey: { hint: createHash('sha256').update(pem).digest('hex') }, tlogEntries: [] });
      expect(bundle.dsseEnvelope.signatures).toEqual([{ sig: expect.any(String), keyid: '' }]);
      const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
      const sig = Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, 'base64');
      expect(verify(hash, pae(IN_TOTO_PAYLOAD_TYPE, payload), { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(true);

      const v = await verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [publicKey] }]);
      expect(v.manifest).toEqual(MANIFEST);
      expect(v.signer.identity).toBe(`key:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`);
    });
  }

  it('refuses RSA signing keys', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expect(signManifest(MANIFEST, { kind: 'key', privateKey })).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});

describe('sign → verify, certificate method', () => {
  const pki = new TestPki();
  afterAll(() => pki.dispose());
  const { root, intermediate, leaf } = pki.chain(['rsa-root', 'ec-intermediate', 'model-signer'], [{ type: 'rsa' }, { type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-384' }]);
  const anchors: Authority = { kind: 'certificate', name: 'test-ca', anchors: [new X509Certificate(root.certPem)] };

  it('RSA root → EC intermediate → P-384 leaf verifies against the root alone', async () => {
    const text = await signManifest(MANIFEST, { kind: 'certificate', privateKey: leaf.key, leafPem: leaf.certPem, chainPems: [intermediate.certPem] });
    const bundle = JSON.parse(text) as Bundle;
    const chain = bundle.verificationMaterial.x509CertificateChain!.certificates.map((c) => new X509Certificate(Buffer.from(c.rawBytes, 'base64')));
    expect(chain.map((c) => c.subject)).toEqual(['CN=model-signer', 'CN=ec-intermediate']);
    expect(bundle.verificationMaterial.tlogEntries).toEqual([]);
    const v = await verifyModelSignature(Buffer.from(text), [anchors]);
    expect(v.signer).toEqual({ method: 'certificate', identity: 'CN=model-signer', issuer: 'CN=ec-intermediate', authority: 'test-ca' });
    expect(v.manifest).toEqual(MANIFEST);
  });

  it('refuses a certificate that does not belong to the private key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await expect(
      signManifest(MANIFEST, { kind: 'certificate', privateKey, leafPem: leaf.certPem, chainPems: [intermediate.certPem] }),
    ).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});
