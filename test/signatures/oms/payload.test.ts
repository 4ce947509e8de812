import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/model/types.js';
import { buildStatement, statementPayload } from '../../../src/signatures/oms/payload.js';
import { parseStatement } from '../../../src/signatures/oms/statement.js';

const d = (s: string): string => createHash('sha256').update(s).digest('hex');

const files: Manifest = {
  modelName: 'my-model',
  serialization: { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] },
  // Deliberately not sorted: the statement keeps the manifest's order.
  resources: [
    { name: 'z.bin', algorithm: 'sha256', digest: d('z') },
    { name: 'a.bin', algorithm: 'sha256', digest: d('a') },
  ],
};

const shards: Manifest = {
  modelName: 'sharded',
  serialization: { method: 'shards', hashType: 'sha256', allowSymlinks: true, ignorePaths: [], shardSize: 8 },
  resources: [
    { name: 'w.bin:0:8', algorithm: 'sha256', digest: d('0') },
    { name: 'w.bin:8:12', algorithm: 'sha256', digest: d('1') },
  ],
};

describe('OMS statement', () => {
  it('builds the v1.0 statement with the root over the given order', () => {
    const s = buildStatement(files) as { subject: { name: string; digest: { sha256: string } }[]; predicate: { serialization: object; resources: unknown[] } };
    const root = createHash('sha256').update(Buffer.from(d('z') + d('a'), 'hex')).digest('hex');
    expect(s).toMatchObject({ _type: 'https://in-toto.io/Statement/v1', predicateType: 'https://model_signing/signature/v1.0' });
    expect(s.subject).toEqual([{ name: 'my-model', digest: { sha256: root } }]);
    expect(s.predicate.serialization).toEqual({ method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: ['.git', 'model.sig'] });
    expect(s.predicate.resources).toEqual(files.resources);
  });

  it('records shard_size only for shards', () => {
    const s = buildStatement(shards) as { predicate: { serialization: Record<string, unknown> } };
    expect(s.predicate.serialization.shard_size).toBe(8);
    expect(Object.keys((buildStatement(files) as { predicate: { serialization: object } }).predicate.serialization)).not.toContain('shard_size');
  });

  it('round-trips through the verifier parser', () => {
    expect(parseStatement(statementPayload(files)).manifest).toEqual(files);
    expect(parseStatement(statementPayload(shards)).manifest).toEqual(shards);
  });

  it('refuses to sign an empty manifest or a nameless model', () => {
    expect(() => buildStatement({ ...files, resources: [] })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => buildStatement({ ...files, modelName: '' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
