import { describe, expect, it } from 'vitest';
import { assertReportClean, compareResources, signedFiles } from '../../src/model/compare.js';
import type { Manifest } from '../../src/model/types.js';

const D = (c: string) => c.repeat(64);
const manifest = (method: 'files' | 'shards', resources: [string, string][]): Manifest => ({
  modelName: 'm',
  serialization: { method, hashType: 'sha256', allowSymlinks: false, ignorePaths: [], ...(method === 'shards' ? { shardSize: 10 } : {}) },
  resources: resources.map(([name, digest]) => ({ name, algorithm: 'sha256', digest })),
});

describe('compareResources', () => {
  const signed = manifest('files', [['a', D('a')], ['b', D('b')]]);
  it('passes when names and digests match', () => {
    const r = compareResources(signed, [{ name: 'b', algorithm: 'sha256', digest: D('b') }, { name: 'a', algorithm: 'sha256', digest: D('a') }], { ignoreUnsignedFiles: false });
    expect(r).toMatchObject({ checked: 2, missing: [], extra: [], mismatched: [] });
    expect(() => assertReportClean(r)).not.toThrow();
  });
  it('reports a changed file as a digest mismatch', () => {
    const r = compareResources(signed, [{ name: 'a', algorithm: 'sha256', digest: D('c') }, { name: 'b', algorithm: 'sha256', digest: D('b') }], { ignoreUnsignedFiles: false });
    expect(() => assertReportClean(r)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
  });
  it('reports a removed file as missing', () => {
    const r = compareResources(signed, [{ name: 'a', algorithm: 'sha256', digest: D('a') }], { ignoreUnsignedFiles: false });
    expect(() => assertReportClean(r)).toThrow(expect.objectContaining({ code: 'FILE_MISSING' }));
  });
  it('reports an added file as unsigned unless told to ignore it', () => {
    const actual = [['a', D('a')], ['b', D('b')], ['new', D('d')]].map(([name, digest]) => ({ name: name!, algorithm: 'sha256', digest: digest! }));
    expect(() => assertReportClean(compareResources(signed, actual, { ignoreUnsignedFiles: false }))).toThrow(expect.objectContaining({ code: 'FILE_UNSIGNED' }));
    const r = compareResources(signed, actual, { ignoreUnsignedFiles: true });
    expect(r.ignoredExtra).toEqual(['new']);
    expect(() => assertReportClean(r)).not.toThrow();
  });
  it('never ignores an extra shard of a signed file (the file grew)', () => {
    const s = manifest('shards', [['w:0:10', D('a')]]);
    const actual = [['w:0:10', D('a')], ['w:10:12', D('b')]].map(([name, digest]) => ({ name: name!, algorithm: 'sha256', digest: digest! }));
    expect(() => assertReportClean(compareResources(s, actual, { ignoreUnsignedFiles: true }))).toThrow(expect.objectContaining({ code: 'FILE_UNSIGNED' }));
  });
  it('rejects a resource whose algorithm differs from the predicate, and duplicates', () => {
    const bad = manifest('files', [['a', D('a')]]);
    bad.resources[0]!.algorithm = 'blake2b';
    expect(() => compareResources(bad, [], { ignoreUnsignedFiles: false })).toThrow(/uses blake2b/);
    const dup = manifest('files', [['a', D('a')], ['a', D('a')]]);
    expect(() => compareResources(dup, [], { ignoreUnsignedFiles: false })).toThrow(/listed twice/);
  });
  it('accepts the Python shard algorithm spelling (trap T2)', () => {
    const s = manifest('shards', [['w:0:10', D('a')]]);
    s.resources[0]!.algorithm = 'sha256-sharded-10';
    expect(() => assertReportClean(compareResources(s, [{ name: 'w:0:10', algorithm: 'sha256', digest: D('a') }], { ignoreUnsignedFiles: false }))).not.toThrow();
  });
  it('derives signed file sizes from shard ends', () => {
    expect(signedFiles(manifest('shards', [['w:0:10', D('a')], ['w:10:15', D('b')]])).get('w')).toEqual({ size: 15 });
  });
});
