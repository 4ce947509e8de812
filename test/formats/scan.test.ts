import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyzeModelFile, enforceScanPolicy, scanDirectory, scanModelFile } from '../../src/formats/scan.js';
import { isModelsealError } from '../../src/errors.js';
import { npyFile, writeSafetensors, writeTorchZip, writeZip } from './writers.js';
import { pbBytes, pbMessage, pbString, pbVarint } from './helpers.js';

const EVIL = Buffer.from('800263706f7369780a73797374656d0a71005802000000696471018571025271032e', 'hex');
const TENSORS = [
  { name: 'fc.weight', storage: 'FloatStorage', key: '0', shape: [4, 3] },
  { name: 'fc.bias', storage: 'FloatStorage', key: '1', shape: [4] },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelseal-scan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, bytes: Uint8Array): Promise<string> {
  const p = path.join(dir, name);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, bytes);
  return p;
}

describe('PyTorch zip checkpoints', () => {
  it('a benign state dict passes and is inventoried', async () => {
    await put('ok/pytorch_model.bin', writeTorchZip(TENSORS));
    const a = await analyzeModelFile(path.join(dir, 'ok'), 'pytorch_model.bin');
    expect(a.format).toBe('pytorch-zip');
    expect(a.findings).toEqual([]);
    expect(a.pickle).toMatchObject({ parameterCount: 16, tensorCount: 2, dtypes: { F32: 16 } });
  });

  it('flags a malicious data.pkl, also when deflated', async () => {
    for (const deflate of [false, true]) {
      const f = await scanModelFile(await put(`evil${deflate}.pt`, writeZip([{ name: 'archive/data.pkl', data: EVIL, deflate }, { name: 'archive/version', data: Buffer.from('3\n') }])));
      expect(f).toContainEqual(expect.objectContaining({ severity: 'unsafe', global: 'posix.system' }));
    }
  });

  it('finds a pickle by content under a name that is not .pkl (GHSA-769v)', async () => {
    const f = await scanModelFile(await put('hidden.pth', writeTorchZip(TENSORS, 4, [{ name: 'archive/extra/weights.bin', data: EVIL }])));
    expect(f).toEqual([expect.objectContaining({ global: 'posix.system', detail: expect.stringContaining('archive/extra/weights.bin') })]);
  });

  it('flags TorchScript code and unscannable containers', async () => {
    const ts = writeTorchZip(TENSORS, 4, [{ name: 'archive/code/__torch__.py', data: Buffer.from('def forward(self): pass\n') }]);
    expect((await scanModelFile(await put('script.pt', ts))).map((f) => f.kind)).toEqual(['torchscript-code']);
    expect((await scanModelFile(await put('x.pt', Buffer.from('7z\xbc\xaf\x27\x1c\0\0', 'latin1')))).map((f) => f.kind)).toEqual(['archive-unsupported']);
    expect((await scanModelFile(await put('y.pt', Buffer.from('hello')))).map((f) => f.kind)).toEqual(['container-unrecognized']);
  });

  it('a corrupt zip is a format finding, not a crash', async () => {
    const good = writeTorchZip(TENSORS);
    for (const bytes of [good.subarray(0, good.length - 30), Buffer.concat([good.subarray(0, good.length - 6), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0])])]) {
      const f = await scanModelFile(await put('corrupt.pt', bytes));
      expect(f.map((x) => x.kind)).toEqual(['format-invalid']);
    }
  });

  it('ignores CRC mismatches as torch does (GHSA-w8jq), still scanning the entry', async () => {
    const z = writeZip([{ name: 'archive/data.pkl', data: EVIL }]);
    z.writeUInt32LE(0xdeadbeef, 14);
    expect(await scanModelFile(await put('crc.pt', z))).toContainEqual(expect.objectContaining({ global: 'posix.system' }));
  });
});

describe('legacy pickles, NumPy', () => {
  it('a raw malicious pickle named .bin is found by content', async () => {
    expect(await scanModelFile(await put('model.bin', EVIL))).toContainEqual(expect.objectContaining({ global: 'posix.system' }));
  });

  it('a protocol 0 pickle without PROTO is scanned when named like a pickle', async () => {
    const p0 = Buffer.from("cposix\nsystem\n(S'id'\ntR.", 'latin1');
    expect(await scanModelFile(await put('p0.pkl', p0))).toContainEqual(expect.objectContaining({ global: 'posix.system' }));
  });

  it('.npy object arrays are pickles and get scanned; numeric arrays pass', async () => {
    expect(await scanModelFile(await put('a.npy', npyFile('<f4', [2, 3], Buffer.alloc(24))))).toEqual([]);
    const f = await scanModelFile(await put('o.npy', npyFile('|O', [1], EVIL)));
    expect(f.map((x) => x.kind)).toEqual(['npy-object-dtype', 'pickle-global']);
    expect(f[1]!.global).toBe('posix.system');
    const npz = writeZip([{ name: 'x.npy', data: npyFile('<i8', [2], Buffer.alloc(16)) }, { name: 'y.npy', data: npyFile('|O', [1], EVIL), deflate: true }]);
    const g = await scanModelFile(await put('d.npz', npz));
    expect(g.map((x) => x.global).filter(Boolean)).toEqual(['posix.system']);
  });
});

describe('ONNX external data and directory scans', () => {
  function onnxWithExternal(location: string): Buffer {
    const tensor = Buffer.concat([pbVarint(1, 2), pbVarint(2, 1), pbString(8, 'w'), pbMessage(13, [pbString(1, 'location'), pbString(2, location)]), pbVarint(14, 1)]);
    return Buffer.concat([pbVarint(1, 8), pbBytes(7, pbBytes(5, tensor))]);
  }

  it('accepts external data inside the model and refuses traversal and symlinks', async () => {
    const m = path.join(dir, 'onnx');
    await put('onnx/weights.data', Buffer.alloc(8));
    await put('onnx/good.onnx', onnxWithExternal('weights.data'));
    await put('onnx/sub/bad.onnx', onnxWithExternal('subdir/../../../etc/passwd'));
    await put('onnx/abs.onnx', onnxWithExternal('/etc/passwd'));
    await symlink('/etc/passwd', path.join(m, 'link.data'));
    await put('onnx/link.onnx', onnxWithExternal('link.data'));
    const good = await analyzeModelFile(m, 'good.onnx');
    expect(good.findings).toEqual([]);
    expect(good.externalFiles).toEqual(['weights.data']);
    for (const f of ['sub/bad.onnx', 'abs.onnx', 'link.onnx']) {
      const a = await analyzeModelFile(m, f);
      expect(a.findings, f).toEqual([expect.objectContaining({ severity: 'unsafe', kind: 'onnx-external-data' })]);
    }
    const all = await scanDirectory(m, ['good.onnx', 'sub/bad.onnx', 'weights.data']);
    expect(() => enforceScanPolicy(all, { blockUnsafePickles: false })).toThrow(/escapes the model directory/);
  });

  it('enforceScanPolicy blocks unsafe pickles only when asked', async () => {
    await put('pol/ok.safetensors', writeSafetensors({ a: { dtype: 'F32', shape: [2], bytesPerElement: 4 } }));
    await put('pol/evil.bin', EVIL);
    await put('pol/config.json', Buffer.from(JSON.stringify({ auto_map: { AutoModel: 'modeling.M' } })));
    const f = await scanDirectory(path.join(dir, 'pol'), ['ok.safetensors', 'evil.bin', 'config.json']);
    expect(f.map((x) => x.kind)).toEqual(['pickle-global', 'trust-remote-code']);
    expect(() => enforceScanPolicy(f, { blockUnsafePickles: false })).not.toThrow();
    let err: unknown;
    try {
      enforceScanPolicy(f, { blockUnsafePickles: true });
    } catch (e) {
      err = e;
    }
    expect(isModelsealError(err, 'UNSAFE_CONTENT')).toBe(true);
    expect((err as Error).message).toMatch(/evil\.bin: pickle global posix\.system/);
    expect(() => enforceScanPolicy(f.filter((x) => x.kind !== 'pickle-global'), { blockUnsafePickles: true, blockAllUnsafe: true })).toThrow(/auto_map/);
  });

  it('a malformed safetensors file becomes a format-invalid finding that the pickle policy blocks', async () => {
    const bad = writeSafetensors({ a: { dtype: 'F32', shape: [2], bytesPerElement: 4 } });
    const f = await scanModelFile(await put('bad.safetensors', Buffer.concat([bad, Buffer.alloc(3)])));
    expect(f).toEqual([expect.objectContaining({ kind: 'format-invalid', detail: expect.stringMatching(/3 trailing bytes/) })]);
    expect(() => enforceScanPolicy(f, { blockUnsafePickles: true })).toThrow(/trailing/);
  });
});
