import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCertificates, loadPublicKeys } from '../../../src/signatures/core/keys.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';

const GOLDEN = new URL('../../fixtures/oms-golden/', import.meta.url);
const read = (rel: string): Buffer => readFileSync(new URL(rel, GOLDEN));

const keyAuthority: Authority = {
  kind: 'key',
  name: 'golden-key',
  publicKeys: loadPublicKeys(read('keys/certificate/signing-key-pub.pem').toString('utf8'), 'signing-key-pub.pem'),
};
const certAuthority: Authority = {
  kind: 'certificate',
  name: 'golden-ca',
  anchors: loadCertificates(read('keys/certificate/ca-cert.pem').toString('utf8'), 'ca-cert.pem'),
};

const SIGNME_1 = 'f6310066c7320497ea554260c32c43660bff648cb2a61194832cc086077085e1';
const SIGNME_2 = '32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028';

describe('golden OMS bundles (model_signing 0.2 – 1.1)', () => {
  const certificateCases = ['v0.3.1-certificate', 'v1.0.0-certificate', 'v1.0.1-certificate', 'v1.1.0-certificate'];
  for (const c of certificateCases) {
    it(`${c} verifies with the root CA as the only anchor`, async () => {
      const v = await verifyModelSignature(read(`${c}/model.sig`), [certAuthority]);
      expect(v.signer).toEqual({ method: 'certificate', identity: 'CN=intermediate-ca', issuer: 'CN=intermediate-ca', authority: 'golden-ca' });
      expect(v.predicateType).toBe('https://model_signing/signature/v1.0');
      expect(v.rootDigest).toBe('61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226');
      expect(v.manifest.modelName).toBe(c);
      expect(v.manifest.resources.map((r) => [r.name, r.digest])).toEqual([['signme-1', SIGNME_1], ['signme-2', SIGNME_2]]);
    });
  }

  it('v1.1.0-certificate carries its ignore paths in the manifest', async () => {
    const v = await verifyModelSignature(read('v1.1.0-certificate/model.sig'), [certAuthority]);
    expect(v.manifest.serialization).toEqual({
      method: 'files',
      hashType: 'sha256',
      allowSymlinks: false,
      ignorePaths: ['ignore-me', '.gitattributes', 'model.sig', '.github', '.gitignore', '.git'],
    });
  });

  it('v0.2.0-certificate (legacy predicate, legacy PAE) verifies as a per-file manifest without a root', async () => {
    const v = await verifyModelSignature(read('v0.2.0-certificate/model.sig'), [certAuthority]);
    expect(v.predicateType).toBe('https://model_signing/Digests/v0.1');
    expect(v.rootDigest).toBeUndefined();
    expect(v.manifest.serialization.method).toBe('files');
    expect(v.manifest.resources).toEqual([
      { name: 'signme-1', algorithm: 'sha256', digest: SIGNME_1 },
      { name: 'signme-2', algorithm: 'sha256', digest: SIGNME_2 },
    ]);
  });

  for (const [c, resources] of [
    ['v0.3.1-elliptic-key', [['.', 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc']]],
    ['v1.0.0-elliptic-key', [['.', 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc']]],
    ['v1.0.1-elliptic-key', [['signme-1', 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc'], ['signme-2', SIGNME_2]]],
    ['v1.1.0-elliptic-key', [['signme-1', 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc'], ['signme-2', SIGNME_2]]],
  ] as const) {
    it(`${c} verifies with signing-key-pub.pem (P-384, SHA-384)`, async () => {
      const v = await verifyModelSignature(read(`${c}/model.sig`), [keyAuthority]);
      expect(v.signer.method).toBe('key');
      expect(v.signer.identity).toMatch(/^key:[0-9a-f]{64}$/);
      expect(v.signer.authority).toBe('golden-key');
      expect(v.manifest.resources.map((r) => [r.name, r.digest])).toEqual(resources);
    });
  }

  it('a key bundle is not accepted by a certificate authority, nor the reverse', async () => {
    await expect(verifyModelSignature(read('v1.1.0-elliptic-key/model.sig'), [certAuthority])).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    await expect(verifyModelSignature(read('v1.1.0-certificate/model.sig'), [keyAuthority])).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
  });

  it('picks the matching authority among several', async () => {
    const v = await verifyModelSignature(read('v1.0.0-certificate/model.sig'), [keyAuthority, certAuthority]);
    expect(v.signer.authority).toBe('golden-ca');
  });
});
