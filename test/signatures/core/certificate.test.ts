import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { parseBundle } from '../../../src/signatures/oms/bundle.js';
import { verifyWithCertificates } from '../../../src/signatures/core/certificate.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import { MANIFEST } from '../../helpers/bundles.js';
import { CA_EXT, LEAF_EXT, TestPki, type Issued } from '../../helpers/pki.js';

const pki = new TestPki();
afterAll(() => pki.dispose());

const root = pki.root('root-ca');
const intermediate = pki.issue(root, 'intermediate-ca', { type: 'rsa' }, CA_EXT);
const P384 = { type: 'ec', curve: 'P-384' } as const;
const anchor = (...certs: Issued[]): Authority[] => [{ kind: 'certificate', anchors: certs.map((c) => new X509Certificate(c.certPem)) }];

async function bundleFrom(leaf: Issued, chain: Issued[]): Promise<Buffer> {
  const text = await signManifest(MANIFEST, { kind: 'certificate', privateKey: leaf.key, leafPem: leaf.certPem, chainPems: chain.map((c) => c.certPem) });
  return Buffer.from(text);
}

describe('certificate method', () => {
  it('verifies leaf → bundle intermediate → anchor', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    const v = await verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(root));
    expect(v.signer).toMatchObject({ method: 'certificate', identity: 'CN=signer', issuer: 'CN=intermediate-ca' });
  });

  it('accepts an intermediate as the configured anchor, and a chain that repeats the root', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(intermediate))).resolves.toBeDefined();
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate, root]), anchor(root))).resolves.toBeDefined();
  });

  it('a leaf with CA:TRUE and its issuer\'s DN is still the leaf (T13)', async () => {
    const twin = pki.issue(intermediate, 'intermediate-ca', P384, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning');
    const v = await verifyModelSignature(await bundleFrom(twin, [intermediate]), anchor(root));
    expect(v.signer.identity).toBe('CN=intermediate-ca');
  });

  it('wrong anchor → UNTRUSTED_SIGNER', async () => {
    const other = pki.root('other-root');
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(other))).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
      message: expect.stringContaining('does not lead to a configured trust anchor'),
    });
  });

  it('missing intermediate → UNTRUSTED_SIGNER', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    await expect(verifyModelSignature(await bundleFrom(leaf, []), anchor(root))).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
  });

  it('expired leaf → CERTIFICATE_INVALID (validity is checked now, T11)', async () => {
    const leaf = pki.issue(intermediate, 'old-signer', P384, LEAF_EXT, { start: '20200101000000Z', end: '20210101000000Z' });
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('signing certificate CN=old-signer expired'),
    });
  });

  it('a leaf valid now fails once it expires', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    const parsed = parseBundle(await bundleFrom(leaf, [intermediate]));
    const anchors = [new X509Certificate(root.certPem)];
    expect(verifyWithCertificates(parsed, anchors).identity).toBe('CN=signer');
    expect(() => verifyWithCertificates(parsed, anchors, new Date(Date.now() + 20 * 365 * 86_400_000))).toThrow(expect.objectContaining({ code: 'CERTIFICATE_INVALID' }));
  });

  it('leaf without digitalSignature or codeSigning → CERTIFICATE_INVALID', async () => {
    const tls = pki.issue(intermediate, 'tls-server', P384, 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth');
    await expect(verifyModelSignature(await bundleFrom(tls, [intermediate]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('extended key usage without codeSigning'),
    });
    // An EKU that is present must name codeSigning even when KeyUsage allows digitalSignature (#11 defect 7).
    const server = pki.issue(intermediate, 'tls-with-ku', P384, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth');
    await expect(verifyModelSignature(await bundleFrom(server, [intermediate]), anchor(root))).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
    const bare = pki.issue(intermediate, 'no-usage', P384, 'basicConstraints=CA:FALSE');
    await expect(verifyModelSignature(await bundleFrom(bare, [intermediate]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('allows neither digitalSignature'),
    });
    const agreement = pki.issue(intermediate, 'key-agreement', P384, 'keyUsage=critical,keyAgreement\nextendedKeyUsage=codeSigning');
    await expect(verifyModelSignature(await bundleFrom(agreement, [intermediate]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('KeyUsage without digitalSignature'),
    });
  });

  it('codeSigning alone (no KeyUsage) is enough', async () => {
    const leaf = pki.issue(intermediate, 'eku-only', P384, 'extendedKeyUsage=codeSigning');
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(root))).resolves.toBeDefined();
  });

  it('intermediate that is not a CA → CERTIFICATE_INVALID', async () => {
    const notCa = pki.issue(root, 'not-a-ca', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash');
    const leaf = pki.issue(notCa, 'signer', P384, LEAF_EXT);
    await expect(verifyModelSignature(await bundleFrom(leaf, [notCa]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('intermediate certificate CN=not-a-ca is not a CA'),
    });
  });

  it('path length constraint of the anchor is enforced', async () => {
    const strictRoot = pki.root('strict-root', { type: 'rsa' }, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash');
    const int = pki.issue(strictRoot, 'int-under-strict', { type: 'rsa' }, CA_EXT);
    const leaf = pki.issue(int, 'signer', P384, LEAF_EXT);
    await expect(verifyModelSignature(await bundleFrom(leaf, [int]), anchor(strictRoot))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('allows 0 intermediates'),
    });
  });

  it('unknown critical extension on the leaf → CERTIFICATE_INVALID', async () => {
    const leaf = pki.issue(intermediate, 'odd', P384, `${LEAF_EXT}\n1.2.3.4=critical,ASN1:NULL`);
    await expect(verifyModelSignature(await bundleFrom(leaf, [intermediate]), anchor(root))).rejects.toMatchObject({
      code: 'CERTIFICATE_INVALID',
      message: expect.stringContaining('unsupported critical extension(s) 1.2.3.4'),
    });
  });

  it('an RSA signing certificate is refused', async () => {
    const rsaLeaf = pki.issue(intermediate, 'rsa-signer', { type: 'rsa' }, LEAF_EXT);
    // signManifest refuses RSA keys, so splice an RSA leaf into an EC-signed bundle.
    const ecLeaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    const bundle = JSON.parse((await bundleFrom(ecLeaf, [intermediate])).toString()) as { verificationMaterial: { x509CertificateChain: { certificates: { rawBytes: string }[] } } };
    bundle.verificationMaterial.x509CertificateChain.certificates[0] = { rawBytes: new X509Certificate(rsaLeaf.certPem).raw.toString('base64') };
    await expect(verifyModelSignature(Buffer.from(JSON.stringify(bundle)), anchor(root))).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', message: expect.stringContaining('rsa') });
  });

  it('a valid chain with a signature from another key → SIGNATURE_INVALID', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    const impostor = pki.issue(intermediate, 'impostor', P384, LEAF_EXT);
    const bundle = JSON.parse((await bundleFrom(impostor, [intermediate])).toString()) as { verificationMaterial: { x509CertificateChain: { certificates: { rawBytes: string }[] } } };
    bundle.verificationMaterial.x509CertificateChain.certificates[0] = { rawBytes: new X509Certificate(leaf.certPem).raw.toString('base64') };
    await expect(verifyModelSignature(Buffer.from(JSON.stringify(bundle)), anchor(root))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('garbage certificate bytes → CERTIFICATE_INVALID', async () => {
    const leaf = pki.issue(intermediate, 'signer', P384, LEAF_EXT);
    const bundle = JSON.parse((await bundleFrom(leaf, [intermediate])).toString()) as { verificationMaterial: { x509CertificateChain: { certificates: { rawBytes: string }[] } } };
    bundle.verificationMaterial.x509CertificateChain.certificates[1] = { rawBytes: Buffer.from('not a certificate').toString('base64') };
    await expect(verifyModelSignature(Buffer.from(JSON.stringify(bundle)), anchor(root))).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', message: expect.stringContaining('#1') });
  });
});
