import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { publicGoodTrustedRoot } from '../../../src/trust/roots/public-good.js';
import { verifySigstoreBundle } from '../../../src/signatures/core/sigstore-verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';

const GOLDEN = new URL('../../fixtures/oms-golden/', import.meta.url);
const trustConfig = JSON.parse(readFileSync(new URL('sigstore-trust-config.json', GOLDEN), 'utf8')) as unknown;

type SigstoreAuthority = Extract<Authority, { kind: 'sigstore' }>;
const authority = (over: Partial<SigstoreAuthority> = {}): SigstoreAuthority => ({
  kind: 'sigstore',
  trustedRoot: trustConfig,
  identity: { exact: 'stefanb@us.ibm.com' },
  issuer: 'https://sigstore.verify.ibm.com/oauth2',
  ...over,
});

function golden(version: string): { bundle: unknown; payload: Buffer } {
  const bundle = JSON.parse(readFileSync(new URL(`${version}-sigstore/model.sig`, GOLDEN), 'utf8')) as { dsseEnvelope: { payload: string } };
  return { bundle, payload: Buffer.from(bundle.dsseEnvelope.payload, 'base64') };
}

describe('golden keyless OMS bundles (model_signing 0.3.1 – 1.1.0)', () => {
  for (const version of ['v0.3.1', 'v1.0.0', 'v1.0.1', 'v1.1.0']) {
    it(`${version}-sigstore verifies offline at the Rekor integrated time`, async () => {
      const { bundle, payload } = golden(version);
      const signer = await verifySigstoreBundle(bundle, payload, authority());
      expect(signer).toEqual({ method: 'sigstore', identity: 'stefanb@us.ibm.com', issuer: 'https://sigstore.verify.ibm.com/oauth2' });
    });
  }

  it('all four also verify with the shipped public-good snapshot (v1.1.0 then by its RFC 3161 timestamp too)', async () => {
    const trustedRoot = publicGoodTrustedRoot();
    for (const version of ['v0.3.1', 'v1.0.0', 'v1.0.1', 'v1.1.0']) {
      const { bundle, payload } = golden(version);
      await expect(verifySigstoreBundle(bundle, payload, authority({ trustedRoot }))).resolves.toMatchObject({ identity: 'stefanb@us.ibm.com' });
    }
  });

  it('accepts an anchored regexp that covers the whole SAN', async () => {
    const { bundle, payload } = golden('v1.0.0');
    const signer = await verifySigstoreBundle(bundle, payload, authority({ identity: { regexp: 'stefanb@us\\.ibm\\.com' } }));
    expect(signer.identity).toBe('stefanb@us.ibm.com');
  });

  it('rejects another identity', async () => {
    const { bundle, payload } = golden('v1.0.1');
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { exact: 'alice@us.ibm.com' } }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('rejects a regexp matching only part of the SAN', async () => {
    const { bundle, payload } = golden('v1.0.1');
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { regexp: 'stefanb@us\\.ibm' } }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('rejects another issuer', async () => {
    const { bundle, payload } = golden('v1.1.0');
    await expect(verifySigstoreBundle(bundle, payload, authority({ issuer: 'https://accounts.google.com' }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('rejects a payload that is not the envelope payload', async () => {
    const { bundle, payload } = golden('v1.1.0');
    const other = Buffer.from(payload.toString('utf8').replace('signme-1', 'signme-X'));
    await expect(verifySigstoreBundle(bundle, other, authority())).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
  });

  it('rejects a tampered envelope payload (Rekor payload hash / signature)', async () => {
    const { bundle } = golden('v1.0.0');
    const b = structuredClone(bundle) as { dsseEnvelope: { payload: string } };
    const tampered = Buffer.from(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8').replace('signme-1', 'signme-X'));
    b.dsseEnvelope.payload = tampered.toString('base64');
    await expect(verifySigstoreBundle(b, tampered, authority())).rejects.toMatchObject({ code: 'TLOG_INVALID' });
  });

  it('rejects a trusted root whose Rekor key has no validFor.start', async () => {
    const { bundle, payload } = golden('v1.0.0');
    const tc = structuredClone(trustConfig) as { trustedRoot: { tlogs: { publicKey: { validFor?: unknown } }[] } };
    delete tc.trustedRoot.tlogs[0]!.publicKey.validFor;
    await expect(verifySigstoreBundle(bundle, payload, authority({ trustedRoot: tc }))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('rejects when the trusted root lacks the Fulcio CA', async () => {
    const { bundle, payload } = golden('v1.0.0');
    const tc = structuredClone(trustConfig) as { trustedRoot: { certificateAuthorities: unknown[] } };
    tc.trustedRoot.certificateAuthorities = [];
    await expect(verifySigstoreBundle(bundle, payload, authority({ trustedRoot: tc }))).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
  });
});
