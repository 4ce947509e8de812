import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cosignKeyHint, omsKeyHint } from '../../../src/signatures/core/key-ids.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import { bundleFor, bytesOf, MANIFEST, statementJson } from '../../helpers/bundles.js';

const pair = (curve: 'P-256' | 'P-384' | 'P-521') => generateKeyPairSync('ec', { namedCurve: curve });
const alice = pair('P-256');
const bob = pair('P-384');
const keys = (...k: KeyObject[]): Authority[] => [{ kind: 'key', publicKeys: k }];
const legacyStatement = JSON.stringify({
  _type: 'https://in-toto.io/Statement/v1',
  subject: MANIFEST.resources.map((r) => ({ name: r.name, digest: { sha256: r.digest }, annotations: { actual_hash_algorithm: 'file-sha256' } })),
  predicateType: 'https://model_signing/Digests/v0.1',
  predicate: { unused: 'Unused, just passed due to API requirements' },
});

describe('key method', () => {
  it('a bundle signed by another key is refused, naming the key it claims', async () => {
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: bob.privateKey });
    await expect(verifyModelSignature(Buffer.from(text), keys(alice.publicKey))).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
      message: expect.stringContaining('not configured'),
    });
  });

  it('a bundle without any hint and the wrong key is SIGNATURE_INVALID', async () => {
    const b = bundleFor(statementJson(), bob.privateKey, { publicKey: {} });
    await expect(verifyModelSignature(bytesOf(b), keys(alice.publicKey))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('a tampered payload is SIGNATURE_INVALID even when the hint matches', async () => {
    const b = JSON.parse(await signManifest(MANIFEST, { kind: 'key', privateKey: alice.privateKey })) as { dsseEnvelope: { payload: string } };
    const tampered = statementJson(); // same shape, different ignore_paths than MANIFEST
    b.dsseEnvelope.payload = Buffer.from(tampered).toString('base64');
    await expect(verifyModelSignature(bytesOf(b), keys(alice.publicKey))).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
      message: expect.stringContaining('does not verify'),
    });
  });

  it('P-384 signatures hashed with SHA-256 are refused (the curve fixes the hash)', async () => {
    const b = bundleFor(statementJson(), bob.privateKey, { publicKey: { hint: omsKeyHint(bob.publicKey) } }, { hash: 'sha256' });
    await expect(verifyModelSignature(bytesOf(b), keys(bob.publicKey))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    const ok = bundleFor(statementJson(), bob.privateKey, { publicKey: { hint: omsKeyHint(bob.publicKey) } });
    await expect(verifyModelSignature(bytesOf(ok), keys(bob.publicKey))).resolves.toBeDefined();
  });

  it('selects among several configured keys by OMS hint, cosign hint or raw key (T6, T7)', async () => {
    const carol = pair('P-521');
    const materials = [
      { publicKey: { hint: omsKeyHint(carol.publicKey) } },
      { publicKey: { hint: cosignKeyHint(carol.publicKey) } },
      { publicKey: { rawBytes: Buffer.from(carol.publicKey.export({ type: 'spki', format: 'pem' })).toString('base64'), keyDetails: 'PKIX_ECDSA_P521_SHA_512' } },
      { publicKey: { rawBytes: carol.publicKey.export({ type: 'spki', format: 'der' }).toString('base64') } },
      { publicKey: {} },
    ];
    for (const m of materials) {
      const v = await verifyModelSignature(bytesOf(bundleFor(statementJson(), carol.privateKey, m)), keys(alice.publicKey, carol.publicKey, bob.publicKey));
      expect(v.signer.method).toBe('key');
    }
  });

  it('a hint in a form we do not know falls back to the configured key (T7)', async () => {
    const b = bundleFor(statementJson(), alice.privateKey, { publicKey: { hint: 'some-other-producer-id' } });
    await expect(verifyModelSignature(bytesOf(b), keys(alice.publicKey))).resolves.toMatchObject({ signer: { method: 'key' } });
  });

  it('accepts keyid "", null or absent (T8)', async () => {
    for (const keyid of ['', null, undefined]) {
      const b = bundleFor(statementJson(), alice.privateKey, { publicKey: { hint: omsKeyHint(alice.publicKey) } }) as { dsseEnvelope: { signatures: Record<string, unknown>[] } };
      b.dsseEnvelope.signatures[0]!.keyid = keyid;
      await expect(verifyModelSignature(bytesOf(b), keys(alice.publicKey))).resolves.toBeDefined();
    }
  });

  it('accepts the v0.2 legacy PAE only for the legacy predicate (T10)', async () => {
    const material = { publicKey: { hint: omsKeyHint(bob.publicKey) } };
    const legacy = bundleFor(legacyStatement, bob.privateKey, material, { legacy: true, hash: 'sha256' });
    const v = await verifyModelSignature(bytesOf(legacy), keys(bob.publicKey));
    expect(v.predicateType).toBe('https://model_signing/Digests/v0.1');
    expect(v.manifest.resources).toEqual(MANIFEST.resources);
    const modern = bundleFor(statementJson(), bob.privateKey, material, { legacy: true });
    await expect(verifyModelSignature(bytesOf(modern), keys(bob.publicKey))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('says which kind of authority is missing', async () => {
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: alice.privateKey });
    await expect(verifyModelSignature(Buffer.from(text), [])).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
      message: expect.stringContaining('no key authority is configured'),
    });
  });

  it('reports every authority tried when none accepts', async () => {
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: alice.privateKey });
    const authorities: Authority[] = [
      { kind: 'key', name: 'team-a', publicKeys: [bob.publicKey] },
      { kind: 'key', name: 'team-b', publicKeys: [pair('P-256').publicKey] },
    ];
    await expect(verifyModelSignature(Buffer.from(text), authorities)).rejects.toMatchObject({
      code: 'UNTRUSTED_SIGNER',
      message: expect.stringMatching(/team-a: .*; team-b: /),
    });
    const v = await verifyModelSignature(Buffer.from(text), [...authorities, { kind: 'key', name: 'team-c', publicKeys: [alice.publicKey] }]);
    expect(v.signer.authority).toBe('team-c');
  });
});
