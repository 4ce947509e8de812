import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { bufferReader } from '../../src/formats/reader.js';
import { parseGguf } from '../../src/formats/gguf.js';
import { isModelsealError } from '../../src/errors.js';
import { writeGguf } from './writers.js';

const TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}";

function llamaGguf(version = 3): Buffer {
  return writeGguf([
    ['general.architecture', 'str', 'llama'],
    ['general.name', 'str', 'Tiny Llama'],
    ['general.license', 'str', 'apache-2.0'],
    ['general.file_type', 'u32', 7],
    ['general.quantization_version', 'u32', 2],
    ['llama.context_length', 'u32', 2048],
    ['llama.block_count', 'u32', 1],
    ['tokenizer.ggml.tokens', 'strs', Array.from({ length: 100 }, (_, i) => `tok${i}`)],
    ['tokenizer.ggml.token_type', 'i32s', Array.from({ length: 100 }, () => 1)],
    ['tokenizer.chat_template', 'str', TEMPLATE],
    ['general.tags', 'strs', ['a', 'b']],
    ['general.some_flag', 'bool', true],
  ], [
    { name: 'token_embd.weight', dims: [64, 100], type: 8, bytes: (6400 / 32) * 34 },
    { name: 'output_norm.weight', dims: [64], type: 0, bytes: 256 },
  ], version);
}

async function rejects(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const err = await parseGguf(bufferReader(bytes)).catch((e: unknown) => e);
  expect(isModelsealError(err, 'FORMAT_INVALID'), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

describe('parseGguf', () => {
  it('reads v3 and v2 headers: architecture, quantization, parameters, chat template hash', async () => {
    for (const v of [3, 2]) {
      const info = await parseGguf(bufferReader(llamaGguf(v)));
      expect(info.version).toBe(v);
      expect(info.architecture).toBe('llama');
      expect(info.quantization).toBe('Q8_0');
      expect(info.tensorCount).toBe(2);
      expect(info.parameterCount).toBe(6464);
      expect(info.dtypes).toEqual({ Q8_0: 6400, F32: 64 });
      expect(info.metadata['llama.context_length']).toBe(2048);
      expect(info.metadata['tokenizer.ggml.tokens']).toMatchObject({ type: 8, length: 100 });
      expect(info.chatTemplateSha256).toBe(createHash('sha256').update(TEMPLATE).digest('hex'));
    }
  });

  it('rejects truncation at every point of the header without crashing', async () => {
    const file = llamaGguf();
    const dataStart = (await parseGguf(bufferReader(file))).dataOffset;
    for (let cut = 0; cut < dataStart; cut += 7) {
      const err = await parseGguf(bufferReader(file.subarray(0, cut))).catch((e: unknown) => e);
      expect(isModelsealError(err, 'FORMAT_INVALID'), `cut at ${cut}: ${String(err)}`).toBe(true);
    }
    await rejects(file.subarray(0, file.length - 1), /passes the end of the file/);
  });

  it('rejects hostile counts, types, offsets and values', async () => {
    await rejects(Buffer.from('GGUF\x01\x00\x00\x00' + '\0'.repeat(16), 'latin1'), /unsupported version 1/);
    await rejects(Buffer.from('GGML' + '\0'.repeat(20), 'latin1'), /bad magic/);
    const hugeCount = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.from('ffffffffffffff0f', 'hex'), Buffer.alloc(8)]);
    await rejects(hugeCount, /tensor count .* out of range/);
    const hugeKv = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from('ffffffffffffff0f', 'hex')]);
    await rejects(hugeKv, /metadata count .* out of range/);
    const manyKv = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from('ffffffff00000000', 'hex')]);
    await rejects(manyKv, /metadata count 4294967295 exceeds/);
    // A string length far beyond the file.
    const longKey = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('ffffffff00000000', 'hex')]);
    await rejects(longKey, /exceeds 65535/);
    const badBool = writeGguf([['x', 'bool', true]], []);
    badBool[24 + 8 + 1 + 4] = 2;
    await rejects(badBool, /BOOL value 2/);
    await rejects(writeGguf([['general.alignment', 'u32', 12]], []), /multiple of 8/);
    await rejects(writeGguf([['a', 'u32', 1], ['a', 'u32', 2]], []), /duplicate metadata key/);
    await rejects(writeGguf([], [{ name: 't', dims: [4], type: 99, bytes: 16 }]), /unknown ggml type 99/);
    await rejects(writeGguf([], [{ name: 't', dims: [1, 1, 1, 1, 1], type: 0, bytes: 4 }]), /5 dimensions/);
    await rejects(writeGguf([], [{ name: 't', dims: [33], type: 8, bytes: 64 }]), /block/);
    await rejects(writeGguf([], [{ name: 't', dims: [4], type: 0, bytes: 16 }, { name: 't', dims: [4], type: 0, bytes: 16 }]), /duplicate tensor name/);
    // Two tensors at the same offset: rewrite the second tensor's offset to 0.
    const two = writeGguf([], [{ name: 'a', dims: [16], type: 0, bytes: 64 }, { name: 'b', dims: [16], type: 0, bytes: 64 }]);
    const bOff = two.indexOf(Buffer.from('b')) + 1 + 4 + 8 + 4;
    two.writeBigUInt64LE(32n, bOff);
    await rejects(two, /overlaps/);
    two.writeBigUInt64LE(31n, bOff);
    await rejects(two, /not aligned/);
    two.writeBigUInt64LE(1n << 40n, bOff);
    await rejects(two, /passes the end/);
  });
});
