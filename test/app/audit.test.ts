import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditDeployment } from '../../src/app/audit.js';
import { parseReceipt, readReceipt } from '../../src/placement/receipt-file.js';
import { summarizeReceipts } from '../../src/app/audit-summary.js';
import { serializeDirectory } from '../../src/model/serialize.js';
import type { Receipt } from '../../src/placement/receipt.js';
import { pull } from '../../src/app/pull.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { createDirSource } from '../../src/stores/dir/source.js';
import type { Authority } from '../../src/signatures/core/types.js';
import { tempDir } from '../harness/process.js';
import { bytes, makeModel } from '../helpers/model.js';
import { trustOf } from '../helpers/trust.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const trusted: Authority[] = [{ kind: 'key', name: 'release', publicKeys: [release.publicKey] }];

async function deployed(method: 'files' | 'shards' = 'files', key = release.privateKey) {
  const src = await makeModel({ 'config.json': '{"a":1}', 'weights/w.bin': bytes(150_000), 'tok.json': '{}' });
  const m = await serializeDirectory(src, { method, hashType: 'sha256', shardSize: 65536, allowSymlinks: false, ignorePaths: ['model.sig'] });
  await writeFile(path.join(src, 'model.sig'), await signManifest(m, { kind: 'key', privateKey: key }));
  const volume = await tempDir('volume');
  const res = await pull({ reference: src, source: createDirSource(src), trust: trustOf(trusted), into: path.join(volume, 'model') });
  return { dir: res.placedAt, receiptPath: res.receiptPath, receipt: await readReceipt(res.receiptPath), volume };
}

/** The placed tree is sealed 0555/0444 (as in the pod); an attacker with write access unseals it. */
async function unseal(dir: string) {
  await chmod(dir, 0o755);
  await chmod(path.join(dir, 'weights'), 0o755);
}

const audit = (d: Awaited<ReturnType<typeof deployed>>, authorities = trusted, receipt: Receipt = d.receipt) =>
  auditDeployment({ dir: d.dir, receipt, receiptPath: d.receiptPath, authorities });

describe('audit <dir> --receipt', () => {
  for (const method of ['files', 'shards'] as const) {
    it(`passes on an untouched deployment (${method})`, async () => {
      const d = await deployed(method);
      const r = await audit(d);
      expect(r).toMatchObject({ ok: true, exitCode: 0, signature: { verified: true, matchesReceipt: true } });
      expect(r.files).toMatchObject({ changed: [], missing: [], extra: [] });
      expect(r.files.checked).toBeGreaterThanOrEqual(3);
      expect(r.signer?.identity).toBe(d.receipt.signer.identity);
    });

    it(`reports a changed file, exit 4 (${method})`, async () => {
      const d = await deployed(method);
      await unseal(d.dir);
      const w = path.join(d.dir, 'weights/w.bin');
      await chmod(w, 0o644);
      const buf = await readFile(w);
      buf[100_000] = buf[100_000]! ^ 0xff;
      await writeFile(w, buf);
      const r = await audit(d);
      expect(r).toMatchObject({ ok: false, exitCode: 4, code: 'DIGEST_MISMATCH' });
      expect(r.files).toMatchObject({ changed: ['weights/w.bin'], missing: [], extra: [] });
    });

    it(`reports a grown file as changed, not as extra (${method})`, async () => {
      const d = await deployed(method);
      await unseal(d.dir);
      const w = path.join(d.dir, 'weights/w.bin');
      await chmod(w, 0o644);
      await writeFile(w, Buffer.concat([await readFile(w), bytes(70_000, 3)]));
      const r = await audit(d);
      expect(r.exitCode).toBe(4);
      expect(r.files).toMatchObject({ changed: ['weights/w.bin'], missing: [], extra: [] });
    });
  }

  it('reports a removed file (exit 5) and an added file (exit 5), together', async () => {
    const d = await deployed();
    await unseal(d.dir);
    await unlink(path.join(d.dir, 'tok.json'));
    await writeFile(path.join(d.dir, 'weights/backdoor.pkl'), 'cos\nsystem\n');
    const r = await audit(d);
    expect(r).toMatchObject({ ok: false, exitCode: 5 });
    expect(r.files).toMatchObject({ changed: [], missing: ['tok.json'], extra: ['weights/backdoor.pkl'] });
    expect(r.reason).toMatch(/missing since placement: tok\.json; added since placement: weights\/backdoor\.pkl/);
  });

  it('a changed file outranks a file-set change in the exit code', async () => {
    const d = await deployed();
    await unseal(d.dir);
    await chmod(path.join(d.dir, 'config.json'), 0o644);
    await writeFile(path.join(d.dir, 'config.json'), '{"a":2}');
    await writeFile(path.join(d.dir, 'new.bin'), 'x');
    const r = await audit(d);
    expect(r.exitCode).toBe(4);
    expect(r.files.changed).toEqual(['config.json']);
    expect(r.files.extra).toEqual(['new.bin']);
  });

  it('fails (exit 3) when the auditor does not trust the recorded signer, and still re-hashes', async () => {
    const d = await deployed();
    const r = await audit(d, [{ kind: 'key', publicKeys: [other.publicKey] }]);
    expect(r).toMatchObject({ ok: false, exitCode: 3, signature: { verified: false } });
    expect(r.files.checked).toBeGreaterThan(0);
  });

  it('catches a receipt edited to match tampered files', async () => {
    const d = await deployed();
    // The attacker rewrites a file AND the receipt's resource digest for it.
    const edited: Receipt = JSON.parse(JSON.stringify(d.receipt));
    edited.model.resources = edited.model.resources.map((r) => (r.name === 'config.json' ? { ...r, digest: 'ab'.repeat(32) } : r));
    const r = await audit(d, trusted, edited);
    expect(r).toMatchObject({ ok: false, exitCode: 3, code: 'MANIFEST_INCONSISTENT', signature: { verified: true, matchesReceipt: false } });

    // …or swaps in a bundle of its own (signed by another key) without fixing the recorded hash.
    const swapped: Receipt = JSON.parse(JSON.stringify(d.receipt));
    swapped.signature.bundle = swapped.signature.bundle.replace(/"signatures"/, '"signatures" ');
    const s = await audit(d, trusted, swapped);
    expect(s).toMatchObject({ ok: false, exitCode: 3, code: 'BUNDLE_INVALID' });
  });

  it('accepts the same deployment re-mounted elsewhere (audits run off the node)', async () => {
    const d = await deployed();
    const copy = path.join(await tempDir('copy'), 'model');
    await mkdir(path.join(copy, 'weights'), { recursive: true });
    for (const f of ['config.json', 'tok.json', 'weights/w.bin']) await writeFile(path.join(copy, f), await readFile(path.join(d.dir, f)));
    const r = await auditDeployment({ dir: copy, receipt: d.receipt, receiptPath: d.receiptPath, authorities: trusted });
    expect(r.ok).toBe(true);
  });

  it('rejects documents that are not receipts', () => {
    expect(() => parseReceipt('{"receiptVersion":2}', 'r.json')).toThrow(/receiptVersion must be 1/);
    expect(() => parseReceipt('not json', 'r.json')).toThrow(/invalid JSON/);
    expect(() => parseReceipt(JSON.stringify({ receiptVersion: 1, tool: 't', createdAt: 'c', reference: 'r', placedAt: '/p' }), 'r.json')).toThrow(/model must be an object/);
  });
});

describe('audit --receipts', () => {
  it('groups receipts by model digest with signers and placements, and lists broken ones', async () => {
    const a = await deployed();
    const b = await deployed('shards');
    const dir = await tempDir('receipts');
    await writeFile(path.join(dir, 'a.receipt.json'), await readFile(a.receiptPath));
    await mkdir(path.join(dir, 'node-2'));
    await writeFile(path.join(dir, 'node-2', 'b.receipt.json'), await readFile(b.receiptPath));
    await writeFile(path.join(dir, 'unrelated.json'), '{"kind":"other"}');
    const s = await summarizeReceipts(dir);
    expect(s.receipts).toHaveLength(2);
    expect(s.invalid).toEqual([]);
    expect(s.byDigest).toHaveLength(2);
    for (const g of s.byDigest) {
      expect(g.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(g.signers).toEqual([a.receipt.signer.identity]);
    }
    expect(s.byDigest.flatMap((g) => g.placements).sort()).toEqual([a.dir, b.dir].sort());

    await writeFile(path.join(dir, 'broken.receipt.json'), '{"receiptVersion":1}');
    const t = await summarizeReceipts(dir);
    expect(t.invalid).toHaveLength(1);
    expect(t.invalid[0]!.file).toMatch(/broken\.receipt\.json$/);
    await rm(dir, { recursive: true, force: true });
  });
});
