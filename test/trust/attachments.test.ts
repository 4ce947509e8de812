import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pull } from '../../src/app/pull.js';
import { manifestForSigning } from '../../src/app/sign.js';
import type { SignatureCandidate } from '../../src/signatures/candidate.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { createDirSource } from '../../src/stores/dir/source.js';
import { makeModel } from '../helpers/model.js';
import { trustOf } from '../helpers/trust.js';

/**
 * #11 defect 5: attachments (SBOM referrers, `*.sbom*` objects) are read only when the policy
 * needs them, one at a time. Each attachment here counts its reads, as a registry would count GETs.
 */
const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function attachment(kind: SignatureCandidate['kind'], n: number, reads: number[]): SignatureCandidate {
  return {
    kind,
    origin: `referrer #${n}`,
    size: 60 * 1024 * 1024,
    read: async () => {
      reads[n] = (reads[n] ?? 0) + 1;
      return Buffer.from('{"bomFormat":"CycloneDX"}');
    },
  };
}

async function setup(reads: number[], count: number) {
  const dir = await makeModel({ 'config.json': '{"a":1}' });
  const manifest = await manifestForSigning({ model: dir, method: 'files', hashType: 'sha256', ignoreGitPaths: true, allowSymlinks: false });
  await writeFile(path.join(dir, 'model.sig'), await signManifest(manifest, { kind: 'key', privateKey: k.privateKey }));
  const src = createDirSource(dir);
  const extra = Array.from({ length: count }, (_, i) => attachment(i % 2 ? 'sbom' : 'bundle', i, reads));
  return { dir, source: { ...src, signatures: async () => [...(await src.signatures()), ...extra] } };
}

const into = async () => path.join(await mkdtemp(path.join(os.tmpdir(), 'attach-')), 'm');

describe('attachments are read only when a check needs them', () => {
  it('twenty 60 MiB SBOM referrers are never read when nothing requires an SBOM', async () => {
    const reads: number[] = [];
    const { dir, source } = await setup(reads, 20);
    // Unlabelled bundles are read (bounded, one at a time) only to see whether they are model signatures.
    const res = await pull({ reference: dir, source, trust: trustOf([{ kind: 'key', publicKeys: [k.publicKey] }]), into: await into() });
    expect(res.receipt.model.files).toHaveLength(1);
    expect(reads.filter((_, i) => i % 2 === 1).every((n) => n === undefined)).toBe(true);
  });

  it('with requireSbom each is read once, in turn, and a plain (unsigned) SBOM does not satisfy it', async () => {
    const reads: number[] = [];
    const { dir, source } = await setup(reads, 6);
    const err = await pull({ reference: dir, source, trust: trustOf([{ kind: 'key', publicKeys: [k.publicKey] }], { requireSbom: true }), into: await into() }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SBOM_REQUIRED', message: expect.stringMatching(/no signed SBOM bundle/) });
    expect(reads.filter((_, i) => i % 2 === 1)).toEqual([1, 1, 1]);
  });
});
