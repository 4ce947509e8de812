import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBlob, signStatement } from '../../../src/signatures/blob/sign.js';
import { verifyBlob, verifyStatementBundle } from '../../../src/signatures/blob/verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { TestPki } from '../../helpers/pki.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../../helpers/mock-sigstore.js';

const ISSUER = 'https://issuer.example';
let dir: string;
let mock: MockSigstore;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-blob-'));
  mock = await startMockSigstore();
});
afterAll(async () => {
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function blob(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
const keyAuthority = (...keys: KeyObject[]): Authority => ({ kind: 'key', publicKeys: keys });
const sigstoreAuthority = (identity = 'alice@example.com'): Authority => ({
  kind: 'sigstore',
  trustedRoot: mock.trustedRoot,
  identity: { exact: identity },
  issuer: ISSUER,
});
const keyless = (sub = 'alice@example.com') => ({
  kind: 'sigstore' as const,
  identityToken: fakeIdentityToken(sub, ISSUER),
  fulcioUrl: mock.fulcioUrl,
  rekorUrl: mock.rekorUrl,
  tsaUrl: mock.tsaUrl,
});

describe('sign-blob / verify-blob with keys', () => {
  // 3 MiB + 1: several read chunks, and not a multiple of the chunk size.
  const content = Buffer.alloc(3 * 1024 * 1024 + 1, 7);

  for (const [curve, algorithm] of [
    ['P-256', 'SHA2_256'],
    ['P-384', 'SHA2_384'],
    ['P-521', 'SHA2_512'],
  ] as const) {
    it(`${curve}: round trip, ${algorithm} digest, cosign hint, no tlog`, async () => {
      const file = await blob(`model-${curve}.bin`, content);
      const { privateKey, publicKey } = ec(curve);
      const text = await signBlob(file, { kind: 'key', privateKey });
      const bundle = JSON.parse(text) as Record<string, any>;
      expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      expect(bundle.messageSignature.messageDigest.algorithm).toBe(algorithm);
      expect(bundle.verificationMaterial.tlogEntries).toEqual([]);
      expect(bundle.verificationMaterial.publicKey.hint).toMatch(/^[A-Za-z0-9+/]{43}=$/);

      const signer = await verifyBlob(file, Buffer.from(text), [keyAuthority(publicKey)]);
      expect(signer.method).toBe('key');
      expect(signer.identity).toMatch(/^key:[0-9a-f]{64}$/);

      // sigstore-js reads it the same way (thresholds 0 = cosign --insecure-ignore-tlog).
      const tm = toTrustMaterial(TrustedRoot.fromJSON({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], ctlogs: [], certificateAuthorities: [], timestampAuthorities: [] }), () => ({ publicKey, validFor: () => true }));
      new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(bundle), content));
    });
  }

  it('rejects a tampered file', async () => {
    const file = await blob('tampered.bin', Buffer.from('original weights'));
    const { privateKey, publicKey } = ec('P-384');
    const text = await signBlob(file, { kind: 'key', privateKey });
    await writeFile(file, 'original weightz');
    await expect(verifyBlob(file, Buffer.from(text), [keyAuthority(publicKey)])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('rejects another key, and a forged digest with a valid-looking signature', async () => {
    const file = await blob('other-key.bin', Buffer.from('weights'));
    const { privateKey } = ec('P-256');
    const other = ec('P-256').publicKey;
    const text = await signBlob(file, { kind: 'key', privateKey });
    await expect(verifyBlob(file, Buffer.from(text), [keyAuthority(other)])).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('rejects a digest algorithm that is not the key’s curve hash', async () => {
    const file = await blob('alg.bin', Buffer.from('weights'));
    const { privateKey, publicKey } = ec('P-384');
    const bundle = JSON.parse(await signBlob(file, { kind: 'key', privateKey })) as Record<string, any>;
    // Re-sign as if P-384 used SHA-256: a downgrade the verifier must not accept.
    const p256 = ec('P-256');
    const other = JSON.parse(await signBlob(file, { kind: 'key', privateKey: p256.privateKey })) as Record<string, any>;
    bundle.messageSignature = other.messageSignature;
    await expect(verifyBlob(file, Buffer.from(JSON.stringify(bundle)), [keyAuthority(publicKey)])).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('picks the right key among several and names the authority', async () => {
    const file = await blob('several.bin', Buffer.from('weights'));
    const a = ec('P-256');
    const b = ec('P-521');
    const text = await signBlob(file, { kind: 'key', privateKey: b.privateKey });
    const signer = await verifyBlob(file, Buffer.from(text), [{ kind: 'key', name: 'release', publicKeys: [a.publicKey, createPublicKey(b.privateKey)] }]);
    expect(signer.authority).toBe('release');
  });

  it('rejects a malformed bundle and a non-blob bundle', async () => {
    const file = await blob('bad.bin', Buffer.from('weights'));
    const { privateKey, publicKey } = ec('P-256');
    await expect(verifyBlob(file, Buffer.from('{"mediaType":'), [keyAuthority(publicKey)])).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    const att = await signStatement(statement(), { kind: 'key', privateKey });
    await expect(verifyBlob(file, Buffer.from(att), [keyAuthority(publicKey)])).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
  });
});

describe('sign-blob / verify-blob keyless', () => {
  it('round trip with certificate, Rekor hashedrekord and TSA; identity enforced', async () => {
    const file = await blob('keyless.bin', Buffer.alloc(2 * 1024 * 1024 + 3, 1));
    const text = await signBlob(file, keyless());
    const bundle = JSON.parse(text) as Record<string, any>;
    expect(bundle.messageSignature.messageDigest.algorithm).toBe('SHA2_256');
    expect(bundle.verificationMaterial.certificate.rawBytes).toBeTypeOf('string');
    expect(bundle.verificationMaterial.tlogEntries[0].kindVersion).toEqual({ kind: 'hashedrekord', version: '0.0.1' });
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);

    await expect(verifyBlob(file, Buffer.from(text), [sigstoreAuthority()])).resolves.toEqual({ method: 'sigstore', identity: 'alice@example.com', issuer: ISSUER });
    await expect(verifyBlob(file, Buffer.from(text), [sigstoreAuthority('bob@example.com')])).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
    // A key authority does not accept someone else's keyless signature.
    await expect(verifyBlob(file, Buffer.from(text), [keyAuthority(ec('P-256').publicKey)])).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    // With several authorities, the one that fits wins.
    await expect(verifyBlob(file, Buffer.from(text), [keyAuthority(ec('P-256').publicKey), sigstoreAuthority()])).resolves.toMatchObject({ method: 'sigstore' });
  });

  it('rejects a tampered file', async () => {
    const file = await blob('keyless-tampered.bin', Buffer.from('weights v1'));
    const text = await signBlob(file, keyless());
    await writeFile(file, 'weights v2');
    await expect(verifyBlob(file, Buffer.from(text), [sigstoreAuthority()])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('rejects a signature moved onto another file’s log entry', async () => {
    const f1 = await blob('k1.bin', Buffer.from('one'));
    const f2 = await blob('k2.bin', Buffer.from('two'));
    const b1 = JSON.parse(await signBlob(f1, keyless())) as Record<string, any>;
    const b2 = JSON.parse(await signBlob(f2, keyless())) as Record<string, any>;
    b1.messageSignature = b2.messageSignature; // right digest and signature for f2, wrong cert and log entry
    await expect(verifyBlob(f2, Buffer.from(JSON.stringify(b1)), [sigstoreAuthority()])).rejects.toMatchObject({
      code: expect.stringMatching(/^(TLOG_INVALID|SIGNATURE_INVALID)$/),
    });
  });
});

function statement(predicate: Record<string, unknown> = { note: 'sbom' }): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'model', digest: { sha256: 'b'.repeat(64) } }],
      predicateType: 'https://cyclonedx.org/bom',
      predicate,
    }),
  );
}

describe('DSSE in-toto attestations', () => {
  for (const curve of ['P-256', 'P-384', 'P-521']) {
    it(`${curve} key: round trip returns the signed statement`, async () => {
      const { privateKey, publicKey } = ec(curve);
      const text = await signStatement(statement(), { kind: 'key', privateKey });
      const bundle = JSON.parse(text) as Record<string, any>;
      expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
      const { statement: got, signer } = await verifyStatementBundle(Buffer.from(text), [keyAuthority(publicKey)]);
      expect(got).toEqual(JSON.parse(statement().toString()));
      expect(signer.method).toBe('key');
    });
  }

  it('keyless: round trip and identity enforced', async () => {
    const text = await signStatement(statement(), keyless());
    const { signer } = await verifyStatementBundle(Buffer.from(text), [sigstoreAuthority()]);
    expect(signer).toEqual({ method: 'sigstore', identity: 'alice@example.com', issuer: ISSUER });
    await expect(verifyStatementBundle(Buffer.from(text), [sigstoreAuthority('mallory@example.com')])).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
  });

  it('rejects a changed statement, another key, and a non-statement payload', async () => {
    const { privateKey, publicKey } = ec('P-384');
    const bundle = JSON.parse(await signStatement(statement(), { kind: 'key', privateKey })) as Record<string, any>;
    await expect(verifyStatementBundle(Buffer.from(JSON.stringify(bundle)), [keyAuthority(ec('P-384').publicKey)])).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    bundle.dsseEnvelope.payload = statement({ note: 'other' }).toString('base64');
    await expect(verifyStatementBundle(Buffer.from(JSON.stringify(bundle)), [keyAuthority(publicKey)])).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    await expect(signStatement(Buffer.from('{"hello":1}'), { kind: 'key', privateKey })).rejects.toMatchObject({ code: 'PAYLOAD_INVALID' });
  });

  it('certificate signing writes the OMS chain form; a bad chain is refused, a key still checks the signature', async () => {
    const { privateKey } = ec('P-256');
    const text = await signStatement(statement(), { kind: 'certificate', privateKey, leafPem: FAKE_CERT_PEM, chainPems: [] });
    const bundle = JSON.parse(text) as Record<string, any>;
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.x509CertificateChain.certificates).toHaveLength(1);
    const pki = new TestPki();
    const anchor = new X509Certificate(pki.root('blob-root', { type: 'ec', curve: 'P-256' }).certPem);
    pki.dispose();
    await expect(verifyStatementBundle(Buffer.from(text), [{ kind: 'certificate', anchors: [anchor] }])).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
    const ok = await verifyStatementBundle(Buffer.from(text), [{ kind: 'certificate', anchors: [anchor] }, keyAuthority(createPublicKey(privateKey))]);
    expect(ok.signer.method).toBe('key');
  });
});

// Any DER is fine for the shape test above; it is never parsed as a certificate there.
const FAKE_CERT_PEM = `-----BEGIN CERTIFICATE-----\n${Buffer.from('not really a certificate').toString('base64')}\n-----END CERTIFICATE-----\n`;
