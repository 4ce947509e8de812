import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { serializeDirectory } from '../../../src/model/serialize.js';
import { pull } from '../../../src/app/pull.js';
import { signStatement } from '../../../src/signatures/blob/sign.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { publishOci } from '../../../src/stores/oci/publish.js';
import { createOciSource } from '../../../src/stores/oci/source.js';
import { verifyCosignSignatures } from '../../../src/signatures/cosign/verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { tempDir } from '../../harness/process.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { bytes, makeModel } from '../../helpers/model.js';
import { clientFor, modelPackConfig, pushArtifact, sha256 } from './helpers.js';
import { startFaultProxy } from './proxy.js';
import { trustOf } from '../../helpers/trust.js';
import { readAll } from '../../../src/signatures/registry.js';

/** Signed publish → pull() through the one pipeline, against the token-auth registry. */
describe('signed OCI pull end to end', () => {
  let reg: RegistryServer;
  let key: { privateKey: KeyObject; publicKey: KeyObject };
  let other: { privateKey: KeyObject; publicKey: KeyObject };
  let authorities: Authority[];

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    authorities = [{ kind: 'key', name: 'publisher', publicKeys: [key.publicKey] }];
  });
  afterAll(async () => reg?.stop());

  async function signAndPublish(dir: string, ref: string, opts: { bundleFrom?: string; cosign?: boolean } = {}) {
    const manifest = await serializeDirectory(opts.bundleFrom ?? dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] });
    const bundleJson = await signManifest(manifest, { kind: 'key', privateKey: key.privateKey });
    const own = opts.bundleFrom ? await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] }) : manifest;
    const files = await Promise.all(own.resources.map(async (r) => ({ path: r.name, sha256: r.digest, size: (await stat(path.join(dir, r.name))).size })));
    return publishOci({
      dir, ref, files, bundleJson, client: await clientFor(reg),
      ...(opts.cosign ? { cosignSigner: (s: Buffer) => signStatement(s, { kind: 'key', privateKey: key.privateKey }) } : {}),
    });
  }

  it('publishes, pulls, verifies and places; cosign v3 signature binds the pulled digest', async () => {
    const dir = await makeModel({ 'model.safetensors': bytes(1_500_000, 21), 'config.json': '{"a":1}', 'sub/tok.json': '{}' }, 'signed');
    const pub = await signAndPublish(dir, `oci://${reg.host}/e2e/signed:v1`, { cosign: true });
    const into = path.join(await tempDir('pull'), 'model');
    const source = createOciSource(`oci://${reg.host}/e2e/signed:v1`, await clientFor(reg));
    const res = await pull({ reference: `oci://${reg.host}/e2e/signed:v1`, source, trust: trustOf(authorities, { blockUnsafePickle: false }), into });
    expect(res.receipt.resolvedDigest).toBe(pub.digest);
    expect(sha256(await readFile(path.join(into, 'model.safetensors')))).toBe(sha256(bytes(1_500_000, 21)));
    expect(res.receipt.signature.origin).toMatch(/^referrer sha256:.*fallback tag/);

    const src2 = createOciSource(pub.reference, await clientFor(reg));
    await src2.resolve();
    const cands = await readAll(await src2.signatures());
    expect(cands.map((c) => c.kind).sort()).toEqual(['cosign-bundle', 'oms']);
    expect(await verifyCosignSignatures(cands, pub.digest, authorities)).toHaveLength(1);
    // The same cosign signature does not count for any other digest, nor for another key.
    expect(await verifyCosignSignatures(cands, `sha256:${'ab'.repeat(32)}`, authorities)).toHaveLength(0);
    const err = await verifyCosignSignatures(cands, `sha256:${'ab'.repeat(32)}`, authorities, { throwIfNone: true }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'SUBJECT_MISMATCH')).toBe(true);
    expect(await verifyCosignSignatures(cands, pub.digest, [{ kind: 'key', publicKeys: [other.publicKey] }])).toHaveLength(0);
    await src2.close();
  });

  it('a tag moved to an unsigned manifest is refused (SIGNATURE_MISSING) and DIR is not created', async () => {
    const dir = await makeModel({ 'w.bin': bytes(10_000, 1) }, 'moved');
    await signAndPublish(dir, `oci://${reg.host}/e2e/moved:v1`);
    // Point the tag at an artefact that has no signature at all (pushed without referrers).
    const w2 = bytes(10_000, 2);
    await pushArtifact(`oci://${reg.host}/e2e/moved:v1`, await clientFor(reg), {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig([`sha256:${sha256(w2)}`]) },
      layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw', bytes: w2, annotations: { 'org.cncf.model.filepath': 'w.bin' } }],
    });
    const into = path.join(await tempDir('pull'), 'model');
    const source = createOciSource(`oci://${reg.host}/e2e/moved:v1`, await clientFor(reg));
    const err = await pull({ reference: 'moved', source, trust: trustOf(authorities, { blockUnsafePickle: false }), into }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'SIGNATURE_MISSING')).toBe(true);
    expect((err as { exitCode: number }).exitCode).toBe(3);
    await expect(stat(into)).rejects.toThrow();
  });

  it('a signature for other files is refused before any weight byte is downloaded', async () => {
    const signedDir = await makeModel({ 'w.bin': bytes(800_000, 5) }, 'swap');
    const evilDir = await makeModel({ 'w.bin': bytes(800_000, 6) }, 'swap');
    const pub = await signAndPublish(evilDir, `oci://${reg.host}/e2e/swap:v1`, { bundleFrom: signedDir });
    const proxy = await startFaultProxy({ upstream: reg.url('') });
    try {
      const into = path.join(await tempDir('pull'), 'model');
      const source = createOciSource(`oci://${proxy.host}/e2e/swap@${pub.digest}`, await clientFor(reg, { credentials: { username: reg.user, password: reg.password } }));
      const err = await pull({ reference: 'swap', source, trust: trustOf(authorities, { blockUnsafePickle: false }), into }).catch((e: unknown) => e);
      expect(isModelsealError(err, 'DIGEST_MISMATCH')).toBe(true);
      const weightDigest = `sha256:${sha256(bytes(800_000, 6))}`;
      expect(proxy.blobRequests.length).toBeGreaterThan(0); // config and bundle blobs were read …
      expect(JSON.stringify(proxy.blobRequests)).not.toContain(weightDigest.slice(7, 20)); // … the weight never was
      await expect(stat(into)).rejects.toThrow();
    } finally {
      await proxy.close();
    }
  });

  it('a wrong signer is refused with exit code 3', async () => {
    const dir = await makeModel({ 'w.bin': bytes(5000, 8) }, 'who');
    await signAndPublish(dir, `oci://${reg.host}/e2e/who:v1`);
    const source = createOciSource(`oci://${reg.host}/e2e/who:v1`, await clientFor(reg));
    const into = path.join(await tempDir('pull'), 'model');
    const err = await pull({ reference: 'who', source, trust: trustOf([{ kind: 'key', publicKeys: [other.publicKey] }]), into }).catch((e: unknown) => e);
    expect(isModelsealError(err)).toBe(true);
    expect((err as { exitCode: number }).exitCode).toBe(3);
    await expect(stat(into)).rejects.toThrow();
  });

  it('a blob corrupted on the registry disk is refused (DIGEST_MISMATCH) and nothing is placed', async () => {
    const dir = await makeModel({ 'w.bin': bytes(300_000, 9), 'b.bin': bytes(10, 1) }, 'rot');
    const pub = await signAndPublish(dir, `oci://${reg.host}/e2e/rot:v1`);
    const p = reg.blobPath(`sha256:${sha256(bytes(300_000, 9))}`);
    const b = await readFile(p);
    b[123] ^= 1;
    await writeFile(p, b);
    const into = path.join(await tempDir('pull'), 'model');
    const source = createOciSource(pub.reference, await clientFor(reg));
    const err = await pull({ reference: 'rot', source, trust: trustOf(authorities, { blockUnsafePickle: false }), into }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'DIGEST_MISMATCH')).toBe(true);
    await expect(stat(into)).rejects.toThrow();
  });
});
