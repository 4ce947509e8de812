import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pull } from '../../src/app/pull.js';
import { manifestForSigning } from '../../src/app/sign.js';
import { verifyInPlace } from '../../src/app/verify.js';
import type { Manifest } from '../../src/model/types.js';
import { candidateOf, type SignatureCandidate } from '../../src/signatures/candidate.js';
import type { Authority } from '../../src/signatures/core/types.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { createDirSource } from '../../src/stores/dir/source.js';
import type { ModelSource } from '../../src/stores/types.js';
import { bundleFor, bytesOf } from '../helpers/bundles.js';
import { makeModel } from '../helpers/model.js';
import { trustOf } from '../helpers/trust.js';

/**
 * #11 defects 1 and 2: which signatures speak for the model. A registry may hold signatures for
 * other models (a shared fallback index, an attacker's attachment): they must neither count
 * toward a threshold nor block the right signature.
 */
const key = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const release = key();
const security = key();
const authority = (name: string, k: { publicKey: KeyObject }): Authority => ({ kind: 'key', name, publicKeys: [k.publicKey] });

async function signed(files: Record<string, string>): Promise<{ dir: string; manifest: Manifest }> {
  const dir = await makeModel(files);
  const manifest = await manifestForSigning({ model: dir, method: 'files', hashType: 'sha256', ignoreGitPaths: true, allowSymlinks: false });
  return { dir, manifest };
}

/** A v0.2 (`Digests/v0.1`) bundle: one subject per file, no root digest at all. */
function legacyBundle(m: Manifest, privateKey: KeyObject): Buffer {
  const statement = JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: m.resources.map((r) => ({ name: r.name, digest: { sha256: r.digest } })),
    predicateType: 'https://model_signing/Digests/v0.1',
    predicate: {},
  });
  return bytesOf(bundleFor(statement, privateKey, { publicKey: { hint: '' } }));
}

/** A directory source that also offers extra signatures (as an OCI referrers list does). */
function withSignatures(dir: string, extra: SignatureCandidate[], first = false): ModelSource {
  const src = createDirSource(dir);
  return { ...src, signatures: async () => (first ? [...extra, ...(await src.signatures())] : [...(await src.signatures()), ...extra]) };
}

const target = async () => path.join(await mkdtemp(path.join(os.tmpdir(), 'select-')), 'model');

describe('threshold: an authority counts only for a signature over exactly these files', () => {
  it('a v0.2 signature by a second authority over another model does not count (threshold bypass)', async () => {
    const a = await signed({ 'config.json': '{"a":1}', 'w.bin': 'weights-a' });
    const b = await signed({ 'config.json': '{"b":2}', 'w.bin': 'weights-b' });
    await writeFile(path.join(a.dir, 'model.sig'), await signManifest(a.manifest, { kind: 'key', privateKey: release.privateKey }));
    const trust = trustOf([authority('release', release), authority('security', security)], { threshold: 2, blockUnsafePickle: false });

    const other = candidateOf('oms', 'referrer other-model', legacyBundle(b.manifest, security.privateKey));
    const err = await pull({ reference: a.dir, source: withSignatures(a.dir, [other]), trust, into: await target() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'POLICY_VIOLATION', message: expect.stringMatching(/needs 2 authorities.*1 did \(release\)/) });

    const same = candidateOf('oms', 'referrer same-model', legacyBundle(a.manifest, security.privateKey));
    const ok = await pull({ reference: a.dir, source: withSignatures(a.dir, [other, same]), trust, into: await target() });
    expect(ok.receipt.agreeing).toEqual(['release', 'security']);
  });

  it('one signer under two authority names counts once', async () => {
    const a = await signed({ 'config.json': '{"a":1}' });
    const bundle = await signManifest(a.manifest, { kind: 'key', privateKey: release.privateKey });
    const trust = trustOf([authority('release', release), authority('release-again', release)], { threshold: 2, blockUnsafePickle: false });
    const src = withSignatures(a.dir, [candidateOf('oms', 'copy', Buffer.from(bundle))]);
    await writeFile(path.join(a.dir, 'model.sig'), bundle);
    await expect(pull({ reference: a.dir, source: src, trust, into: await target() })).rejects.toMatchObject({ code: 'POLICY_VIOLATION' });
  });

  it('a second authority that signed the same files with shards counts (re-hashed its way)', async () => {
    const a = await signed({ 'config.json': '{"a":1}', 'w.bin': 'x'.repeat(5000) });
    await writeFile(path.join(a.dir, 'model.sig'), await signManifest(a.manifest, { kind: 'key', privateKey: release.privateKey }));
    const shards = await manifestForSigning({ model: a.dir, method: 'shards', hashType: 'sha256', shardSize: 1024, ignoreGitPaths: true, allowSymlinks: false });
    const second = candidateOf('oms', 'sharded', Buffer.from(await signManifest(shards, { kind: 'key', privateKey: security.privateKey })));
    const trust = trustOf([authority('release', release), authority('security', security)], { threshold: 2, blockUnsafePickle: false });
    const ok = await pull({ reference: a.dir, source: withSignatures(a.dir, [second]), trust, into: await target() });
    expect(ok.receipt.agreeing).toEqual(['release', 'security']);
  });
});

describe('selection: a valid signature for another model neither counts nor blocks', () => {
  it('pull uses the signature whose files match, even when another verifying one comes first', async () => {
    const a = await signed({ 'config.json': '{"a":1}', 'w.bin': 'weights-a' });
    const b = await signed({ 'other.json': '{"b":2}' });
    await writeFile(path.join(a.dir, 'model.sig'), await signManifest(a.manifest, { kind: 'key', privateKey: release.privateKey }));
    const foreign = candidateOf('oms', 'fallback index entry', Buffer.from(await signManifest(b.manifest, { kind: 'key', privateKey: release.privateKey })));
    const trust = trustOf([authority('release', release)], { blockUnsafePickle: false });
    const res = await pull({ reference: a.dir, source: withSignatures(a.dir, [foreign], true), trust, into: await target() });
    expect(res.receipt.signature.origin).toMatch(/model\.sig$/);
    expect(res.receipt.model.files.map((f) => f.path).sort()).toEqual(['config.json', 'w.bin']);
  });

  it('verify in place chooses the same way', async () => {
    const a = await signed({ 'config.json': '{"a":1}' });
    const b = await signed({ 'other.json': '{"b":2}' });
    const right = Buffer.from(await signManifest(a.manifest, { kind: 'key', privateKey: release.privateKey }));
    const wrong = Buffer.from(await signManifest(b.manifest, { kind: 'key', privateKey: release.privateKey }));
    const res = await verifyInPlace({
      path: a.dir,
      candidates: [candidateOf('oms', 'wrong', wrong), candidateOf('oms', 'right', right)],
      trust: trustOf([authority('release', release)]),
    });
    expect(res.chosen.candidate.origin).toBe('right');
  });

  it('when only another model is signed, the reason is the file set (exit 5), not a crash or a pass', async () => {
    const a = await signed({ 'config.json': '{"a":1}' });
    const b = await signed({ 'other.json': '{"b":2}' });
    const wrong = Buffer.from(await signManifest(b.manifest, { kind: 'key', privateKey: release.privateKey }));
    const err = await verifyInPlace({ path: a.dir, candidates: [candidateOf('oms', 'wrong', wrong)], trust: trustOf([authority('release', release)]) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FILE_MISSING' });
    expect(await readFile(path.join(a.dir, 'config.json'), 'utf8')).toBe('{"a":1}');
  });
});
