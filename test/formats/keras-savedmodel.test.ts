import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeModelFile } from '../../src/formats/scan.js';
import { pbMessage, pbString, pbVarint } from './helpers.js';
import { writeZip } from './writers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelseal-keras-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function scan(name: string, bytes: Buffer) {
  await writeFile(path.join(dir, name), bytes);
  return analyzeModelFile(dir, name);
}

const layer = (cls: string, name: string, extra: Record<string, unknown> = {}) => ({ module: 'keras.layers', class_name: cls, config: { name, ...extra }, registered_name: null });
function keras(layers: unknown[]): Buffer {
  const config = { module: 'keras', class_name: 'Sequential', config: { name: 'seq', layers }, registered_name: null };
  return writeZip([
    { name: 'metadata.json', data: Buffer.from('{"keras_version": "3.6.0"}') },
    { name: 'config.json', data: Buffer.from(JSON.stringify(config)), deflate: true },
    { name: 'model.weights.h5', data: Buffer.from('\x89HDF\r\n\x1a\n', 'latin1') },
  ]);
}

describe('Keras v3 archives', () => {
  it('built-in layers pass, by content even without the .keras name', async () => {
    const a = await scan('ok.keras', keras([layer('InputLayer', 'in'), layer('Dense', 'd', { units: 4, activation: 'relu' })]));
    expect(a.format).toBe('keras');
    expect(a.findings).toEqual([]);
    expect((await scan('renamed.zip', keras([layer('Dense', 'd')]))).format).toBe('keras');
  });

  it('a Lambda layer is unsafe; a deny-listed module is unsafe; other custom objects are inconclusive', async () => {
    const lam = layer('Lambda', 'evil', { function: { module: 'builtins', class_name: 'function', config: '__lambda__', registered_name: 'function' } });
    const a = await scan('lambda.keras', keras([lam]));
    expect(a.findings).toContainEqual(expect.objectContaining({ severity: 'unsafe', kind: 'keras', detail: expect.stringMatching(/Lambda layer "evil"/) }));
    const os = await scan('os.keras', keras([{ module: 'os', class_name: 'system', config: { name: 'x' }, registered_name: null }]));
    expect(os.findings).toEqual([expect.objectContaining({ severity: 'unsafe', detail: expect.stringMatching(/os\.system.*runs shell commands/) })]);
    const custom = await scan('custom.keras', keras([{ module: 'my_pkg.layers', class_name: 'Fancy', config: { name: 'f' }, registered_name: 'my_pkg>Fancy' }]));
    expect(custom.findings).toEqual([expect.objectContaining({ severity: 'inconclusive', detail: expect.stringMatching(/my_pkg\.layers\.Fancy/) })]);
    const noConfig = await scan('empty.keras', writeZip([{ name: 'metadata.json', data: Buffer.from('{}') }]));
    expect(noConfig.findings.map((f) => f.severity)).toEqual(['inconclusive']);
  });
});

describe('TensorFlow SavedModel', () => {
  const node = (name: string, op: string) => pbMessage(1, [pbString(1, name), pbString(2, op)]);
  function savedModel(graphOps: string[], functionOps: string[] = []): Buffer {
    const fn = pbMessage(1, functionOps.map((op, i) => pbMessage(3, [pbString(1, `f${i}`), pbString(2, op)])));
    const graph = pbMessage(2, [...graphOps.map((op, i) => node(`n${i}`, op)), pbMessage(2, [fn])]);
    return Buffer.concat([pbVarint(1, 1), pbMessage(2, [graph])]);
  }

  it('inference and saver ops pass', async () => {
    await writeFile(path.join(dir, 'saved_model.pb'), savedModel(['Placeholder', 'MatMul', 'BiasAdd', 'Relu', 'SaveV2', 'RestoreV2', 'StatefulPartitionedCall'], ['Identity', 'ReadVariableOp']));
    const a = await analyzeModelFile(dir, 'saved_model.pb');
    expect(a.format).toBe('savedmodel');
    expect(a.findings).toEqual([]);
  });

  it('file and Python ops are unsafe (also inside functions); unknown ops are inconclusive; garbage is a format finding', async () => {
    const sub = path.join(dir, 'sm');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
    await writeFile(path.join(sub, 'saved_model.pb'), savedModel(['Const', 'WriteFile'], ['ReadFile', 'PyFunc', 'MyCustomOp']));
    const a = await analyzeModelFile(dir, 'sm/saved_model.pb');
    expect(a.findings.map((f) => [f.severity, f.detail.split(' ').slice(0, 3).join(' ')])).toEqual([
      ['unsafe', 'TensorFlow op PyFunc'], ['unsafe', 'TensorFlow op ReadFile'], ['unsafe', 'TensorFlow op WriteFile'], ['inconclusive', 'TensorFlow ops outside'],
    ]);
    await writeFile(path.join(sub, 'saved_model.pb'), Buffer.from([0x12, 0x7f, 0x01]));
    expect((await analyzeModelFile(dir, 'sm/saved_model.pb')).findings.map((f) => [f.severity, f.kind])).toEqual([['inconclusive', 'format-invalid']]);
  });
});
