import { describe, expect, it } from 'vitest';
import { bufferReader } from '../../src/formats/reader.js';
import { isSafeRelativePath, parseSafetensors, parseSafetensorsIndex } from '../../src/formats/safetensors.js';
import { isModelsealError } from '../../src/errors.js';
import { safetensorsHeader, writeSafetensors } from './writers.js';

async function rejects(bytes: Buffer, pattern: RegExp): Promise<void> {
  const err = await parseSafetensors(bufferReader(bytes)).catch((e: unknown) => e);
  expect(isModelsealError(err, 'FORMAT_INVALID'), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

describe('parseSafetensors', () => {
  it('reads tensors, parameter count, dtype histogram and metadata', async () => {
    const file = writeSafetensors({
      'embed.weight': { dtype: 'BF16', shape: [10, 4], bytesPerElement: 2 },
      'lm_head.weight': { dtype: 'F32', shape: [4, 10], bytesPerElement: 4 },
      'norm.bias': { dtype: 'F32', shape: [4], bytesPerElement: 4 },
    }, { format: 'pt' });
    const info = await parseSafetensors(bufferReader(file));
    expect(info.tensorCount).toBe(3);
    expect(info.parameterCount).toBe(84);
    expect(info.dtypes).toEqual({ BF16: 40, F32: 44 });
    expect(info.metadata).toEqual({ format: 'pt' });
  });

  it('accepts an empty model and zero-sized tensors', async () => {
    expect((await parseSafetensors(bufferReader(safetensorsHeader({})))).tensorCount).toBe(0);
    const z = safetensorsHeader({ a: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } });
    expect((await parseSafetensors(bufferReader(z))).parameterCount).toBe(0);
  });

  it('rejects every malformed header as FORMAT_INVALID', async () => {
    const big = Buffer.alloc(16);
    big.writeBigUInt64LE(100_000_001n);
    await rejects(big, /exceeds 100000000/);
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(0xffffffffffffffffn);
    await rejects(huge, /exceeds/);
    const pastEnd = Buffer.alloc(16);
    pastEnd.writeBigUInt64LE(1000n);
    await rejects(pastEnd, /passes the end/);
    await rejects(Buffer.alloc(4), /shorter than/);
    const t = (o: [number, number], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: o });
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 8]), b: t([4, 12]) }), Buffer.alloc(12)]), /overlap or hole/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 8]), b: t([16, 24]) }), Buffer.alloc(24)]), /overlap or hole/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 8]) }), Buffer.alloc(4)]), /past the end/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 8]) }), Buffer.alloc(9)]), /1 trailing bytes/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 12]) }), Buffer.alloc(12)]), /spans 12 bytes but shape and dtype need 8/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([8, 0]) }), Buffer.alloc(8)]), /end 0 before begin 8/);
    await rejects(Buffer.concat([safetensorsHeader({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 1] } }), Buffer.alloc(1)]), /whole bytes/);
    await rejects(Buffer.concat([safetensorsHeader({ a: { dtype: 'X9', shape: [1], data_offsets: [0, 1] } }), Buffer.alloc(1)]), /unknown dtype/);
    await rejects(safetensorsHeader({ __metadata__: { n: 1 } }), /not a string/);
    await rejects(Buffer.concat([safetensorsHeader({ a: t([0, 8], [-2]) }), Buffer.alloc(8)]), /invalid shape/);
    // JSON.parse would silently keep the second "a": a loader keeping the first would see other data.
    const dupText = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const dup = Buffer.alloc(8);
    dup.writeBigUInt64LE(BigInt(dupText.length));
    await rejects(Buffer.concat([dup, Buffer.from(dupText), Buffer.alloc(8)]), /duplicate key "a"/);
    const notJson = Buffer.alloc(8);
    notJson.writeBigUInt64LE(4n);
    await rejects(Buffer.concat([notJson, Buffer.from('[1] ')]), /does not start with/);
    await rejects(Buffer.concat([notJson, Buffer.from('{"a"')]), /JSON/);
    const deep = '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const dl = Buffer.alloc(8);
    dl.writeBigUInt64LE(BigInt(deep.length));
    await rejects(Buffer.concat([dl, Buffer.from(deep)]), /nesting deeper/);
  });
});

describe('sharded index', () => {
  it('lists shards and refuses names that leave the model', () => {
    const idx = parseSafetensorsIndex(JSON.stringify({ metadata: { total_size: 10 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } }));
    expect(idx).toEqual({ shards: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'], tensorCount: 3, totalSize: 10 });
    for (const bad of ['../x.safetensors', '/etc/passwd', '%2e%2e/x', '%252e%252e/x', 'a/../../b', 'C:/x', 'a\\..\\b']) {
      expect(isSafeRelativePath(bad), bad).toBe(false);
      expect(() => parseSafetensorsIndex(JSON.stringify({ weight_map: { a: bad } }))).toThrow(/not a plain relative path/);
    }
    expect(isSafeRelativePath('sub/model.safetensors')).toBe(true);
  });
});
