import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { attachOmsSignature } from '../../../src/app/attach.js';
import { pull } from '../../../src/app/pull.js';
import { ModelsealError } from '../../../src/errors.js';
import type { Manifest } from '../../../src/model/types.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { trustOf } from '../../helpers/trust.js';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectOci } from '../../../src/app/inspect.js';
import type { NotationAuthority } from '../../../src/signatures/core/types.js';
import { notationSubject, verifyNotationSignatures } from '../../../src/signatures/notation/candidates.js';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { tempDir } from '../../harness/process.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { runCli } from '../../helpers/cli.js';
import { TestPki } from '../../helpers/pki.js';
import { clientFor, modelPackConfig, pushArtifact, sha256 } from '../../stores/oci/helpers.js';
import { attachNotation } from './attach.js';
import { candidateOf } from '../../../src/signatures/candidate.js';
import { signCose, signJws } from './sign.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * Notation signatures attached to a model published to a real registry (Debian docker-registry
 * 2.8.2, which has no referrers API: discovery goes through the `sha256-<hex>` fallback tag).
 */
describe('Notation signatures on a model in a real registry', () => {
  let reg: RegistryServer;
  const pki = new TestPki();
  const root = pki.root('Acme Notation Root');
  const leaf = pki.issue(root, 'release', { type: 'ec', curve: 'P-384' }, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning');
  const chain = [leaf.certPem, root.certPem];
  const authority: NotationAuthority = { kind: 'notation', name: 'acme', trustStore: [new X509Certificate(root.certPem)], trustedIdentities: ['*'] };
  const repo = 'acr/model';
  let ref: string;
  let subject: { digest: string; mediaType: string; size: number };

  beforeAll(async () => {
    reg = await startRegistry();
    ref = `oci://${reg.host}/${repo}:v1`;
    const w = Buffer.from('weights for notation');
    const pushed = await pushArtifact(ref, await clientFor(reg), {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${sha256(w)}`]) },
      layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw', bytes: w, annotations: { 'org.cncf.model.filepath': 'w.bin' } }],
    });
    subject = { digest: pushed.digest, mediaType: OCI_MANIFEST, size: pushed.bytes.length };
  });
  afterAll(async () => {
    await reg?.stop();
    pki.dispose();
  });

  const attach = async (envelope: Buffer, layerType: string, o: { legacy?: boolean; extraLayer?: boolean } = {}): Promise<string> =>
    attachNotation({ ref, opts: await clientFor(reg), subject, envelope, layerType, chain, ...o });

  async function discovered() {
    const src = createOciSource(ref, await clientFor(reg));
    try {
      const resolved = await src.resolve();
      const d = await src.discovery();
      // Candidates read lazily through the source's client: read them before it closes.
      const candidates = await Promise.all(d.candidates.filter((c) => c.kind === 'notation').map(async (c) => candidateOf(c.kind, c.origin, await c.read(), c.annotations)));
      return { resolved, candidates, problems: d.problems, via: d.referrersVia };
    } finally {
      await src.close();
    }
  }

  it('JWS and COSE signatures are discovered through the fallback tag and verify for the pulled manifest', async () => {
    const spec = { key: leaf.key, chain, alg: 'ES384' as const, subject };
    const jws = await attach(signJws(spec), 'application/jose+json');
    const cose = await attach(signCose(spec), 'application/cose', { legacy: true });
    const d = await discovered();
    expect(d.via).toBe('fallback-tag');
    expect(d.candidates.map((c) => c.annotations?.mediaType).sort()).toEqual(['application/cose', 'application/jose+json']);
    expect(notationSubject(d.resolved)).toEqual(subject);
    const ok = await verifyNotationSignatures(d.candidates, notationSubject(d.resolved), [authority]);
    expect(ok.map((v) => v.origin).sort()).toEqual([`referrer ${cose} (fallback tag)`, `referrer ${jws} (fallback tag)`].sort());
    expect(ok[0]!.signer).toMatchObject({ method: 'notation', identity: 'CN=release', authority: 'acme' });

    const report = await inspectOci(ref, { ...(await clientFor(reg)), authorities: [authority] });
    const rows = report.signatures.filter((s) => s.kind === 'notation');
    expect(rows).toHaveLength(2);
    expect(rows.every((s) => s.verified === true && s.signer?.identity === 'CN=release')).toBe(true);
  });

  it('a signature for another manifest, a stranger, or a malformed signature manifest never verifies', async () => {
    const other = await attach(signJws({ key: leaf.key, chain, alg: 'ES384', subject: { ...subject, digest: `sha256:${'0'.repeat(64)}` } }), 'application/jose+json');
    const strangerPki = pki.root('Stranger');
    const strangerLeaf = pki.issue(strangerPki, 'mallory', { type: 'ec', curve: 'P-256' }, 'keyUsage=critical,digitalSignature');
    const stranger = await attach(signCose({ key: strangerLeaf.key, chain: [strangerLeaf.certPem, strangerPki.certPem], alg: 'ES256', subject }), 'application/cose');
    const twoLayers = await attach(signJws({ key: leaf.key, chain, alg: 'ES384', subject }), 'application/jose+json', { extraLayer: true });
    const wrongType = await attach(signJws({ key: leaf.key, chain, alg: 'ES384', subject }), 'application/json');

    const d = await discovered();
    expect(d.problems.some((p) => p.includes(twoLayers) && /exactly one/.test(p))).toBe(true);
    expect(d.problems.some((p) => p.includes(wrongType))).toBe(true);
    const ok = await verifyNotationSignatures(d.candidates, notationSubject(d.resolved), [authority]);
    expect(ok.map((v) => v.origin)).not.toContain(`referrer ${other} (fallback tag)`);
    expect(ok.map((v) => v.origin)).not.toContain(`referrer ${stranger} (fallback tag)`);

    const report = await inspectOci(ref, { ...(await clientFor(reg)), authorities: [authority] });
    const row = (dg: string) => report.signatures.find((s) => s.origin.includes(dg));
    expect(row(other)).toMatchObject({ verified: false, reason: expect.stringMatching(/^SUBJECT_MISMATCH/) });
    expect(row(stranger)).toMatchObject({ verified: false, reason: expect.stringMatching(/^UNTRUSTED_SIGNER/) });
    // Only the stranger's and the mismatched signature: the policy requires one that verifies.
    await expect(verifyNotationSignatures(d.candidates.filter((c) => [other, stranger].some((x) => c.origin.includes(x))), notationSubject(d.resolved), [authority], { throwIfNone: true }))
      .rejects.toMatchObject({ exitCode: 3 });
    await expect(verifyNotationSignatures(d.candidates, notationSubject(d.resolved), [], { throwIfNone: true })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('modelseal inspect verifies with an existing Notation trustpolicy.oci.json and trust store directory', async () => {
    const dir = await tempDir('notation-config');
    await mkdir(path.join(dir, 'truststore/x509/ca/acme'), { recursive: true });
    await writeFile(path.join(dir, 'truststore/x509/ca/acme/root.pem'), root.certPem);
    await writeFile(path.join(dir, 'trustpolicy.oci.json'), JSON.stringify({
      version: '1.0',
      trustPolicies: [{ name: 'acme-models', registryScopes: [`${reg.host}/${repo}`], signatureVerification: { level: 'strict' }, trustStores: ['ca:acme'], trustedIdentities: ['*'] }],
    }));
    const r = await runCli(['inspect', ref, '--plain-http', '--json', '--notation-policy', path.join(dir, 'trustpolicy.oci.json'), '--notation-trust-store', path.join(dir, 'truststore')]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { signatures: Array<{ kind: string; verified?: boolean; signer?: { authority?: string } }> };
    const verified = report.signatures.filter((s) => s.kind === 'notation' && s.verified);
    expect(verified.length).toBeGreaterThanOrEqual(2);
    expect(verified[0]!.signer?.authority).toBe('notation:acme-models');
  });

  it('a policy requiring Notation pulls only with a trusted Notation signature, and a Notation signer counts toward a threshold', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const w = Buffer.from('weights for notation');
    const manifest: Manifest = {
      modelName: 'model',
      serialization: { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] },
      resources: [{ name: 'w.bin', algorithm: 'sha256', digest: sha256(w) }],
    };
    await attachOmsSignature(ref, Buffer.from(await signManifest(manifest, { kind: 'key', privateKey })), await clientFor(reg));
    await attach(signJws({ alg: 'ES384', key: leaf.key, chain, subject }), 'application/jose+json');
    const release: Authority = { kind: 'key', name: 'release-key', publicKeys: [publicKey] };
    const into = async () => path.join(await tempDir('notation-pull'), 'model');
    const res = await pull({
      reference: ref,
      source: createOciSource(ref, await clientFor(reg)),
      trust: trustOf([release, authority], { requireNotation: true, threshold: 2, blockUnsafePickle: false }),
      into: await into(),
    });
    expect(res.receipt.notation?.length).toBeGreaterThan(0);
    expect(res.receipt.agreeing).toEqual(['release-key', 'acme']);

    const stranger: NotationAuthority = { ...authority, name: 'stranger', trustStore: [new X509Certificate(pki.root('Stranger Root').certPem)] };
    const err = await pull({
      reference: ref,
      source: createOciSource(ref, await clientFor(reg)),
      trust: trustOf([release, stranger], { requireNotation: true, blockUnsafePickle: false }),
      into: await into(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelsealError);
    expect([3, 6]).toContain((err as ModelsealError).exitCode);
  });
});
