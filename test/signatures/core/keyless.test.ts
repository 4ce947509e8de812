import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSigstore } from '../../../src/signatures/core/sigstore-sign.js';
import { verifySigstoreBundle } from '../../../src/signatures/core/sigstore-verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../../helpers/mock-sigstore.js';

type SigstoreAuthority = Extract<Authority, { kind: 'sigstore' }>;

const ISSUER = 'https://issuer.example';
const statement = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'model', digest: { sha256: 'a'.repeat(64) } }],
    predicateType: 'https://model_signing/signature/v1.0',
    predicate: { resources: [], serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: [] } },
  }),
);

let mock: MockSigstore;
beforeAll(async () => {
  mock = await startMockSigstore();
});
afterAll(async () => {
  await mock?.close();
});

const authority = (over: Partial<SigstoreAuthority> = {}): SigstoreAuthority => ({
  kind: 'sigstore',
  trustedRoot: mock.trustedRoot,
  identity: { exact: 'alice@example.com' },
  issuer: ISSUER,
  ...over,
});

async function sign(sub: string, withTsa = true): Promise<{ bundle: Record<string, any>; payload: Buffer }> {
  const text = await signSigstore(statement, {
    kind: 'sigstore',
    identityToken: fakeIdentityToken(sub, ISSUER),
    fulcioUrl: mock.fulcioUrl,
    rekorUrl: mock.rekorUrl,
    ...(withTsa ? { tsaUrl: mock.tsaUrl } : {}),
  });
  const bundle = JSON.parse(text) as Record<string, any>;
  return { bundle, payload: Buffer.from(bundle.dsseEnvelope.payload as string, 'base64') };
}

describe('keyless signing against local mock Fulcio / Rekor / TSA', () => {
  it('produces a v0.3 DSSE bundle with a Fulcio certificate, a Rekor dsse entry and a timestamp', async () => {
    const { bundle, payload } = await sign('alice@example.com');
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(payload.equals(statement)).toBe(true);
    expect(bundle.verificationMaterial.certificate.rawBytes).toBeTypeOf('string');
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(bundle.verificationMaterial.tlogEntries[0].kindVersion).toEqual({ kind: 'dsse', version: '0.0.1' });
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
  });

  it('verifies offline with the matching trusted root (private log origin differs from its URL)', async () => {
    const { bundle, payload } = await sign('alice@example.com');
    await expect(verifySigstoreBundle(bundle, payload, authority())).resolves.toEqual({
      method: 'sigstore',
      identity: 'alice@example.com',
      issuer: ISSUER,
    });
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { regexp: '.*@example\\.com' } }))).resolves.toMatchObject({
      identity: 'alice@example.com',
    });
  });

  it('verifies without a TSA (Rekor integrated time only)', async () => {
    const { bundle, payload } = await sign('alice@example.com', false);
    expect(bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? []).toHaveLength(0);
    await expect(verifySigstoreBundle(bundle, payload, authority({ name: 'team' }))).resolves.toMatchObject({ authority: 'team' });
  });

  it('rejects another identity and another issuer', async () => {
    const { bundle, payload } = await sign('alice@example.com');
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { exact: 'bob@example.com' } }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
    await expect(verifySigstoreBundle(bundle, payload, authority({ issuer: 'https://accounts.google.com' }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('anchors identity regexps: alice@example\\.com does not match malice@example.com.evil (pitfall 1)', async () => {
    const { bundle, payload } = await sign('malice@example.com.evil');
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { regexp: 'alice@example\\.com' } }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { exact: 'alice@example.com' } }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
    // The signature itself is fine: the right policy accepts it.
    await expect(verifySigstoreBundle(bundle, payload, authority({ identity: { exact: 'malice@example.com.evil' } }))).resolves.toMatchObject({
      identity: 'malice@example.com.evil',
    });
  });

  it('rejects a bundle against another deployment’s trusted root', async () => {
    const other = await startMockSigstore();
    try {
      const { bundle, payload } = await sign('alice@example.com');
      await expect(verifySigstoreBundle(bundle, payload, authority({ trustedRoot: other.trustedRoot }))).rejects.toMatchObject({
        code: expect.stringMatching(/^(CERTIFICATE_INVALID|TLOG_INVALID)$/),
      });
    } finally {
      await other.close();
    }
  });

  it('rejects a swapped signature', async () => {
    const a = await sign('alice@example.com');
    const b = await sign('alice@example.com');
    const forged = structuredClone(a.bundle);
    forged.dsseEnvelope.signatures[0].sig = b.bundle.dsseEnvelope.signatures[0].sig;
    await expect(verifySigstoreBundle(forged, a.payload, authority())).rejects.toMatchObject({ code: expect.stringMatching(/^(TLOG_INVALID|SIGNATURE_INVALID)$/) });
  });

  it('reports an unreachable Fulcio as a NETWORK error', async () => {
    await expect(
      signSigstore(statement, { kind: 'sigstore', identityToken: fakeIdentityToken('a', ISSUER), fulcioUrl: 'http://127.0.0.1:9', rekorUrl: mock.rekorUrl }),
    ).rejects.toMatchObject({ code: 'NETWORK' });
  });
});
