import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predicateTypeOf, verifyBlobAttestation } from '../../../src/signatures/blob/attestation.js';
import { signBlob, signStatement } from '../../../src/signatures/blob/sign.js';
import { blobTarget } from '../../../src/signatures/blob/target.js';
import { verifyBlob } from '../../../src/signatures/blob/verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../../helpers/mock-sigstore.js';

const ISSUER = 'https://issuer.example';
let dir: string;
let mock: MockSigstore;
let file: string;
let fileSha256: string;
const CONTENT = Buffer.alloc(1024 * 1024 + 17, 3);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-att-'));
  mock = await startMockSigstore();
  file = path.join(dir, 'model.gguf');
  await writeFile(file, CONTENT);
  fileSha256 = createHash('sha256').update(CONTENT).digest('hex');
});
afterAll(async () => {
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
const sigstoreAuthority = (identity = 'alice@example.com'): Authority => ({ kind: 'sigstore', trustedRoot: mock.trustedRoot, identity: { exact: identity }, issuer: ISSUER });
const keyless = (rekorApiVersion: 1 | 2) => ({
  kind: 'sigstore' as const,
  identityToken: fakeIdentityToken('alice@example.com', ISSUER),
  fulcioUrl: mock.fulcioUrl,
  rekorUrl: mock.rekorUrl,
  rekorApiVersion,
  tsaUrl: mock.tsaUrl,
});

function statement(subjects: { name?: string; digest: Record<string, string> }[], predicateType = 'https://slsa.dev/provenance/v1'): Buffer {
  return Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: subjects, predicateType, predicate: { builder: { id: 'ci' } } }));
}

describe('verify-blob-attestation: the statement names the artefact', () => {
  it('accepts the file, or its sha256: digest, when any subject carries its SHA-256', async () => {
    const { privateKey, publicKey } = ec('P-256');
    const text = await signStatement(statement([{ name: 'other', digest: { sha256: 'a'.repeat(64) } }, { name: 'model.gguf', digest: { sha512: 'c'.repeat(128), sha256: fileSha256 } }]), { kind: 'key', privateKey });
    const auth: Authority[] = [{ kind: 'key', publicKeys: [publicKey] }];
    const got = await verifyBlobAttestation(blobTarget(file), Buffer.from(text), auth);
    expect(got.subject).toEqual({ name: 'model.gguf', sha256: fileSha256 });
    expect(got.predicateType).toBe('https://slsa.dev/provenance/v1');
    await expect(verifyBlobAttestation(blobTarget(`sha256:${fileSha256.toUpperCase()}`), Buffer.from(text), auth)).resolves.toMatchObject({ signer: { method: 'key' } });
    // The predicate-type filter: a short cosign name, a URI, and a mismatch.
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(text), auth, { predicateType: predicateTypeOf('slsaprovenance1') })).resolves.toBeDefined();
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(text), auth, { predicateType: predicateTypeOf('cyclonedx') })).rejects.toMatchObject({
      code: 'POLICY_VIOLATION',
    });
  });

  it('rejects an artefact no subject names, and a subject with a malformed digest', async () => {
    const { privateKey, publicKey } = ec('P-384');
    const auth: Authority[] = [{ kind: 'key', publicKeys: [publicKey] }];
    const other = await signStatement(statement([{ name: 'model.gguf', digest: { sha256: 'b'.repeat(64) } }]), { kind: 'key', privateKey });
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(other), auth)).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
    // A digest with a prefix is not the digest: never a substring match.
    const padded = await signStatement(statement([{ digest: { sha256: `00${fileSha256}` } }, { digest: { sha256: fileSha256.slice(2) } }]), { kind: 'key', privateKey });
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(padded), auth)).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
  });

  it('still checks the signature first: another key fails even when the subject matches', async () => {
    const { privateKey } = ec('P-256');
    const text = await signStatement(statement([{ digest: { sha256: fileSha256 } }]), { kind: 'key', privateKey });
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(text), [{ kind: 'key', publicKeys: [ec('P-256').publicKey] }])).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
  });

  it('refuses a message-signature bundle and an unknown --type', async () => {
    const { privateKey, publicKey } = ec('P-256');
    const text = await signBlob(file, { kind: 'key', privateKey });
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(text), [{ kind: 'key', publicKeys: [publicKey] }])).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    expect(() => predicateTypeOf('provenance please')).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('keyless DSSE attestations logged in Rekor v1 and Rekor v2', () => {
  for (const version of [1, 2] as const) {
    it(`Rekor v${version}: verifies offline, identity and subject enforced`, async () => {
      const text = await signStatement(statement([{ name: 'model.gguf', digest: { sha256: fileSha256 } }]), keyless(version));
      const bundle = JSON.parse(text) as Record<string, any>;
      const entry = bundle.verificationMaterial.tlogEntries[0];
      expect(entry.kindVersion).toEqual({ kind: 'dsse', version: version === 1 ? '0.0.1' : '0.0.2' });
      // v2 entries carry an inclusion proof and checkpoint but no SET: the time is the TSA's.
      expect(entry.inclusionPromise === undefined).toBe(version === 2);
      expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);

      const got = await verifyBlobAttestation(blobTarget(file), Buffer.from(text), [sigstoreAuthority()], { predicateType: 'https://slsa.dev/provenance/v1' });
      expect(got.signer).toEqual({ method: 'sigstore', identity: 'alice@example.com', issuer: ISSUER });
      await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(text), [sigstoreAuthority('bob@example.com')])).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
      await expect(verifyBlobAttestation(blobTarget(`sha256:${'d'.repeat(64)}`), Buffer.from(text), [sigstoreAuthority()])).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
    });
  }

  it('Rekor v2: a log entry for another envelope is refused', async () => {
    const a = JSON.parse(await signStatement(statement([{ digest: { sha256: fileSha256 } }]), keyless(2))) as Record<string, any>;
    const b = JSON.parse(await signStatement(statement([{ digest: { sha256: 'e'.repeat(64) } }]), keyless(2))) as Record<string, any>;
    a.verificationMaterial.tlogEntries = b.verificationMaterial.tlogEntries;
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(JSON.stringify(a)), [sigstoreAuthority()])).rejects.toMatchObject({ code: 'TLOG_INVALID' });
  });

  it('Rekor v2 without a timestamp has no verified time and is refused', async () => {
    const bundle = JSON.parse(await signStatement(statement([{ digest: { sha256: fileSha256 } }]), keyless(2))) as Record<string, any>;
    delete bundle.verificationMaterial.timestampVerificationData;
    await expect(verifyBlobAttestation(blobTarget(file), Buffer.from(JSON.stringify(bundle)), [sigstoreAuthority()])).rejects.toMatchObject({ code: 'TLOG_INVALID' });
  });
});

describe('verify-blob against a sha256: digest', () => {
  it('accepts the right digest, rejects another, and refuses a SHA-384 bundle it cannot check', async () => {
    const p256 = ec('P-256');
    const text = await signBlob(file, { kind: 'key', privateKey: p256.privateKey });
    const auth: Authority[] = [{ kind: 'key', publicKeys: [p256.publicKey] }];
    await expect(verifyBlob(blobTarget(`sha256:${fileSha256}`), Buffer.from(text), auth)).resolves.toMatchObject({ method: 'key' });
    await expect(verifyBlob(blobTarget(`sha256:${'0'.repeat(64)}`), Buffer.from(text), auth)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const p384 = ec('P-384');
    const text384 = await signBlob(file, { kind: 'key', privateKey: p384.privateKey });
    await expect(verifyBlob(blobTarget(`sha256:${fileSha256}`), Buffer.from(text384), [{ kind: 'key', publicKeys: [p384.publicKey] }])).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('keyless message signature verifies by digest too', async () => {
    const text = await signBlob(file, { ...keyless(1), rekorApiVersion: undefined });
    await expect(verifyBlob(blobTarget(`sha256:${fileSha256}`), Buffer.from(text), [sigstoreAuthority()])).resolves.toMatchObject({ identity: 'alice@example.com' });
  });

  it('parses targets: sha256:<64 hex> is a digest, a malformed one is refused, anything else is a file', () => {
    expect(blobTarget(`sha256:${fileSha256}`)).toEqual({ kind: 'digest', sha256: Buffer.from(fileSha256, 'hex') });
    expect(() => blobTarget('sha256:abc')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(blobTarget(`./sha256:${fileSha256}`)).toEqual({ kind: 'file', path: `./sha256:${fileSha256}` });
  });
});
