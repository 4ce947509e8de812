import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBlob } from '../../../src/signatures/blob/sign.js';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { ANNOTATION } from '../../../src/signatures/cosign/legacy.js';
import { verifyCosignSignatures } from '../../../src/signatures/cosign/verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { tempDir } from '../../harness/process.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../../helpers/mock-sigstore.js';
import { TestPki } from '../../helpers/pki.js';
import { clientFor, modelPackConfig, pushArtifact, sha256 } from './helpers.js';
import { readAll } from '../../../src/signatures/registry.js';

const ISSUER = 'https://issuer.example';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** What `cosign sign` (legacy mode) signs: Go struct order, no whitespace. */
function payloadFor(ref: string, digest: string): Buffer {
  return Buffer.from(`{"critical":{"identity":{"docker-reference":"${ref}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`);
}

const pem = (der: Buffer) => new X509Certificate(der).toString();

/**
 * The annotations cosign writes for a keyless legacy signature, made from a real keyless blob
 * signature over the payload (Fulcio certificate, Rekor hashedrekord entry with its SET, TSA).
 */
function keylessAnnotations(bundleJson: string): Record<string, string> {
  const b = JSON.parse(bundleJson) as Record<string, any>;
  const e = b.verificationMaterial.tlogEntries[0];
  const rekorBundle = {
    SignedEntryTimestamp: e.inclusionPromise.signedEntryTimestamp,
    Payload: { body: e.canonicalizedBody, integratedTime: Number(e.integratedTime), logIndex: Number(e.logIndex), logID: Buffer.from(e.logId.keyId, 'base64').toString('hex') },
  };
  return {
    [ANNOTATION.signature]: b.messageSignature.signature,
    [ANNOTATION.certificate]: pem(Buffer.from(b.verificationMaterial.certificate.rawBytes, 'base64')),
    [ANNOTATION.chain]: '',
    [ANNOTATION.bundle]: JSON.stringify(rekorBundle),
  };
}

describe('cosign legacy .sig signatures from a real registry', () => {
  let reg: RegistryServer;
  let mock: MockSigstore;
  let key: { privateKey: KeyObject; publicKey: KeyObject };
  let digest: string;
  let payload: Buffer;
  const repo = 'legacy/model';

  beforeAll(async () => {
    [reg, mock] = await Promise.all([startRegistry(), startMockSigstore()]);
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const w = Buffer.from('weights');
    ({ digest } = await pushArtifact(`oci://${reg.host}/${repo}:v1`, await clientFor(reg), {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${sha256(w)}`]) },
      layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw', bytes: w, annotations: { 'org.cncf.model.filepath': 'w.bin' } }],
    }));
    payload = payloadFor(`${reg.host}/${repo}`, digest);
  });
  afterAll(async () => {
    await Promise.all([reg?.stop(), mock?.close()]);
  });

  /** Push the `sha256-<hex>.sig` manifest cosign would, one simple-signing layer per signature. */
  async function pushSig(layers: Array<{ payload: Buffer; annotations: Record<string, string> }>): Promise<void> {
    await pushArtifact(`oci://${reg.host}/${repo}:${digest.replace(':', '-')}.sig`, await clientFor(reg), {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: Buffer.from('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}') },
      layers: layers.map((l) => ({ mediaType: SIMPLE_SIGNING, bytes: l.payload, annotations: l.annotations })),
    });
  }

  async function candidates() {
    const src = createOciSource(`oci://${reg.host}/${repo}@${digest}`, await clientFor(reg));
    await src.resolve();
    const c = await readAll(await src.signatures());
    await src.close();
    return c.filter((x) => x.kind === 'cosign-legacy');
  }

  const keyless = (identity = 'alice@example.com'): Authority => ({ kind: 'sigstore', name: 'ci', trustedRoot: mock.trustedRoot, identity: { exact: identity }, issuer: ISSUER });

  it('a key signature binds the pulled digest; another key or digest does not count', async () => {
    const sig = sign('sha256', payload, key.privateKey).toString('base64');
    await pushSig([{ payload, annotations: { [ANNOTATION.signature]: sig } }]);
    const c = await candidates();
    expect(c).toHaveLength(1);
    const ok = await verifyCosignSignatures(c, digest, [{ kind: 'key', name: 'rel', publicKeys: [key.publicKey] }]);
    expect(ok).toEqual([expect.objectContaining({ kind: 'cosign-legacy', signer: expect.objectContaining({ method: 'key', authority: 'rel' }) })]);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expect(verifyCosignSignatures(c, digest, [{ kind: 'key', publicKeys: [other.publicKey] }], { throwIfNone: true })).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    await expect(verifyCosignSignatures(c, `sha256:${'cd'.repeat(32)}`, [{ kind: 'key', publicKeys: [key.publicKey] }], { throwIfNone: true })).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
    // A keyless authority does not accept a bare-key signature.
    expect(await verifyCosignSignatures(c, digest, [keyless()])).toHaveLength(0);
  });

  it('a keyless signature (Fulcio certificate + Rekor SET) verifies with identity and issuer enforced', async () => {
    const file = path.join(await tempDir('legacy'), 'payload.json');
    await writeFile(file, payload);
    const bundle = await signBlob(file, { kind: 'sigstore', identityToken: fakeIdentityToken('alice@example.com', ISSUER), fulcioUrl: mock.fulcioUrl, rekorUrl: mock.rekorUrl });
    const annotations = keylessAnnotations(bundle);
    await pushSig([{ payload, annotations }]);
    const c = await candidates();
    const ok = await verifyCosignSignatures(c, digest, [keyless()]);
    expect(ok.map((v) => v.signer)).toEqual([{ method: 'sigstore', identity: 'alice@example.com', issuer: ISSUER, authority: 'ci' }]);

    await expect(verifyCosignSignatures(c, digest, [keyless('bob@example.com')], { throwIfNone: true })).rejects.toMatchObject({ message: /bob@example\.com|alice/ });
    await expect(verifyCosignSignatures(c, digest, [{ ...(keyless() as Extract<Authority, { kind: 'sigstore' }>), issuer: 'https://evil.example' }], { throwIfNone: true })).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });

    // No Rekor proof, a SET for another entry, or a signature over another payload: each refused.
    const noTlog = { ...annotations };
    delete noTlog[ANNOTATION.bundle];
    const rb = JSON.parse(annotations[ANNOTATION.bundle]!) as { Payload: { integratedTime: number } };
    rb.Payload.integratedTime += 1;
    const badSet = { ...annotations, [ANNOTATION.bundle]: JSON.stringify(rb) };
    const otherPayload = payloadFor(`${reg.host}/${repo}`, `sha256:${'ef'.repeat(32)}`);
    const otherFile = path.join(path.dirname(file), 'other.json');
    await writeFile(otherFile, otherPayload);
    const otherSig = keylessAnnotations(await signBlob(otherFile, { kind: 'sigstore', identityToken: fakeIdentityToken('alice@example.com', ISSUER), fulcioUrl: mock.fulcioUrl, rekorUrl: mock.rekorUrl }));
    for (const [why, ann] of [['no RekorBundle', noTlog], ['SET over other values', badSet], ['proof for another payload', otherSig]] as const) {
      await pushSig([{ payload, annotations: ann }]);
      const bad = await candidates();
      const err = await verifyCosignSignatures(bad, digest, [keyless()], { throwIfNone: true }).then(() => undefined, (e: unknown) => e);
      expect(err, why).toMatchObject({ code: 'UNTRUSTED_SIGNER' });
      expect((err as Error).message, why).toMatch(/Rekor|tlog|signature|transparency|inclusion/i);
    }
  });

  it('a certificate-chain signature verifies against its root, not against another', async () => {
    const pki = new TestPki();
    try {
      const { root, intermediate: mid, leaf } = pki.chain(['legacy-root', 'legacy-mid', 'legacy-signer'], [{ type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-256' }]);
      const annotations = {
        [ANNOTATION.signature]: sign('sha256', payload, leaf.key).toString('base64'),
        [ANNOTATION.certificate]: leaf.certPem,
        [ANNOTATION.chain]: mid.certPem + root.certPem,
      };
      await pushSig([{ payload, annotations }]);
      const c = await candidates();
      const anchors = (p: string): Authority[] => [{ kind: 'certificate', anchors: [new X509Certificate(p)] }];
      expect((await verifyCosignSignatures(c, digest, anchors(root.certPem)))[0]?.signer).toMatchObject({ method: 'certificate', identity: 'CN=legacy-signer' });
      const stranger = pki.root('stranger', { type: 'ec', curve: 'P-256' });
      await expect(verifyCosignSignatures(c, digest, anchors(stranger.certPem), { throwIfNone: true })).rejects.toMatchObject({ message: /trust anchor/ });
      // Junk in the certificate annotation is a clear refusal, not a crash.
      await pushSig([{ payload, annotations: { ...annotations, [ANNOTATION.certificate]: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' } }]);
      await expect(verifyCosignSignatures(await candidates(), digest, anchors(root.certPem), { throwIfNone: true })).rejects.toMatchObject({ message: /not a valid X\.509/ });
    } finally {
      pki.dispose();
    }
  });
});
