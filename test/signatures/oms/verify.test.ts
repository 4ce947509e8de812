import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Authority } from '../../../src/signatures/core/types.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';

const GOLDEN = new URL('../../fixtures/oms-golden/', import.meta.url);
const read = (rel: string): Buffer => readFileSync(new URL(rel, GOLDEN));
const sigstore = (identity: string): Authority => ({
  kind: 'sigstore',
  name: 'ibm',
  trustedRoot: JSON.parse(read('sigstore-trust-config.json').toString('utf8')) as unknown,
  identity: { exact: identity },
  issuer: 'https://sigstore.verify.ibm.com/oauth2',
});

describe('keyless bundles are handed to the Sigstore verifier', () => {
  it('v1.1.0-sigstore verifies through a sigstore authority and returns the statement', async () => {
    const v = await verifyModelSignature(read('v1.1.0-sigstore/model.sig'), [{ kind: 'key', publicKeys: [] }, sigstore('stefanb@us.ibm.com')]);
    expect(v.signer).toMatchObject({ method: 'sigstore', identity: 'stefanb@us.ibm.com', authority: 'ibm' });
    expect(v.manifest.modelName).toBe('v1.1.0-sigstore');
  });

  it('another identity is refused', async () => {
    await expect(verifyModelSignature(read('v1.1.0-sigstore/model.sig'), [sigstore('mallory@us.ibm.com')])).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
  });

  it('without a sigstore authority the bundle is untrusted', async () => {
    await expect(verifyModelSignature(read('v1.1.0-sigstore/model.sig'), [{ kind: 'certificate', anchors: [] }])).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
      message: expect.stringContaining('no sigstore authority'),
    });
  });
});
