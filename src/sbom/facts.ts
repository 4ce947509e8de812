import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AnalyzedFile } from '../formats/scan.js';
import type { GgufArray, GgufValue } from '../formats/gguf.js';
import { isPlainObject, parseStrictJson } from '../formats/strict-json.js';

/** What the model's own files say about it: the raw material of the model card. */
export interface ModelFacts {
  name: string;
  /** e.g. `LlamaForCausalLM` (config.json `architectures[0]`). */
  architecture?: string;
  /** e.g. `llama` (config `model_type`, GGUF `general.architecture`). */
  architectureFamily?: string;
  task?: string;
  parameterCount?: number;
  /** Element count per weight dtype (safetensors / ggml / torch names). */
  dtypes: Record<string, number>;
  /** config `torch_dtype`/`dtype`. */
  declaredDtype?: string;
  quantization?: string;
  license?: string;
  datasets: string[];
  baseModels: string[];
  baseModelRelation?: string;
  tuneMethod?: string;
  chatTemplates: { source: string; sha256: string }[];
  /** `cdx:ai-ml:model:hyperparameter:<key>` → value. */
  hyperparameters: Record<string, string>;
  /** `cdx:ai-ml:tokenizer:hyperparameter:<key>` → value. */
  tokenizer: Record<string, string>;
  languages: string[];
  inputs: string[];
  outputs: string[];
  /** Weight formats present (safetensors, gguf, onnx, pytorch-zip…). */
  formats: string[];
  onnx?: { irVersion?: number; producer?: string; opsets: string[] };
  co2EqEmissions?: string;
  remoteCode: boolean;
}

const MAX_SIDE_FILE = 16 << 20;

/** Hugging Face head suffix → pipeline task, for configs without a README `pipeline_tag`. */
const TASK_BY_HEAD: [RegExp, string][] = [
  [/ForCausalLM$/, 'text-generation'],
  [/ForConditionalGeneration$/, 'text2text-generation'],
  [/ForSequenceClassification$/, 'text-classification'],
  [/ForTokenClassification$/, 'token-classification'],
  [/ForQuestionAnswering$/, 'question-answering'],
  [/ForMaskedLM$/, 'fill-mask'],
  [/ForImageClassification$/, 'image-classification'],
  [/ForObjectDetection$/, 'object-detection'],
  [/ForSpeechSeq2Seq$/, 'automatic-speech-recognition'],
];

const CONFIG_HYPERPARAMETERS: Record<string, string> = {
  hidden_size: 'hidden_size', d_model: 'd_model', num_hidden_layers: 'num_hidden_layers', num_layers: 'num_layers',
  intermediate_size: 'intermediate_size', num_attention_heads: 'num_attention_heads',
  num_key_value_heads: 'num_key_value_heads', vocab_size: 'vocab_size', max_position_embeddings: 'max_position_embeddings',
  hidden_act: 'hidden_act', layer_norm_epsilon: 'layer_norm_epsilon', rms_norm_eps: 'layer_norm_epsilon',
  layer_norm_eps: 'layer_norm_epsilon', activation_dropout: 'activation_dropout',
};

const GGUF_HYPERPARAMETERS: Record<string, string> = {
  context_length: 'context_length', embedding_length: 'hidden_size', block_count: 'num_hidden_layers',
  feed_forward_length: 'intermediate_size', 'attention.head_count': 'num_attention_heads',
  'attention.head_count_kv': 'num_key_value_heads', 'attention.layer_norm_rms_epsilon': 'layer_norm_epsilon',
  vocab_size: 'vocab_size',
};

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v.length > 0) return v.slice(0, 1024);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

function ggufItems(v: GgufValue | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (v && typeof v === 'object' && 'items' in v) return (v as GgufArray).items.filter((x): x is string => typeof x === 'string');
  return [];
}

async function readJson(dir: string, rel: string): Promise<Record<string, unknown> | undefined> {
  try {
    const text = await readFile(path.join(dir, ...rel.split('/')), 'utf8');
    if (text.length > MAX_SIDE_FILE) return undefined;
    const doc = parseStrictJson(text, rel, 64);
    return isPlainObject(doc) ? doc : undefined;
  } catch {
    // Side files are descriptive only: a malformed one leaves its facts out, weights still decide safety.
    return undefined;
  }
}

async function readFrontMatter(dir: string, rel: string): Promise<Record<string, unknown> | undefined> {
  try {
    const text = await readFile(path.join(dir, ...rel.split('/')), 'utf8');
    const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text.slice(0, MAX_SIDE_FILE));
    if (!m) return undefined;
    const doc: unknown = parseYaml(m[1]!, { uniqueKeys: true, maxAliasCount: 10 });
    return isPlainObject(doc) ? doc : undefined;
  } catch {
    return undefined;
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function addHistogram(into: Record<string, number>, h: Record<string, number>): void {
  for (const [k, v] of Object.entries(h)) into[k] = (into[k] ?? 0) + v;
}

/**
 * Weights often come twice (safetensors and pytorch_model.bin): count parameters from one format
 * only, preferring the one loaders prefer. Shards of one format add up; GGUF files are usually
 * alternative quantisations of the same model, so the largest counts.
 */
const WEIGHT_PREFERENCE = ['safetensors', 'gguf', 'pytorch-zip', 'pickle', 'onnx'] as const;

export async function collectModelFacts(dir: string, name: string, files: AnalyzedFile[]): Promise<ModelFacts> {
  const facts: ModelFacts = {
    name, dtypes: {}, datasets: [], baseModels: [], chatTemplates: [], hyperparameters: {}, tokenizer: {}, languages: [],
    inputs: [], outputs: [], formats: [], remoteCode: false,
  };
  const formats = new Set(files.map((f) => f.format));
  facts.formats = WEIGHT_PREFERENCE.filter((f) => formats.has(f));
  const chosen = facts.formats[0];
  if (chosen) {
    const weights = files.filter((f) => f.format === chosen);
    const counts: number[] = [];
    for (const f of weights) {
      const info = f.safetensors ?? f.gguf ?? f.onnx ?? f.pickle;
      if (!info) continue;
      counts.push(info.parameterCount);
      if (chosen !== 'gguf' || info.parameterCount === Math.max(...counts)) {
        if (chosen === 'gguf') facts.dtypes = {};
        addHistogram(facts.dtypes, info.dtypes);
      }
    }
    if (counts.length > 0) facts.parameterCount = chosen === 'gguf' ? Math.max(...counts) : counts.reduce((a, b) => a + b, 0);
  }

  for (const f of files) {
    if (f.gguf) {
      const md = f.gguf.metadata;
      const arch = f.gguf.architecture;
      facts.architectureFamily ??= arch;
      facts.quantization ??= f.gguf.quantization;
      const gname = str(md['general.name']);
      if (gname && facts.name === name) facts.name = gname;
      facts.license ??= str(md['general.license']);
      facts.datasets.push(...ggufItems(md['general.datasets']));
      facts.languages.push(...ggufItems(md['general.languages']));
      const baseCount = Number(md['general.base_model.count'] ?? 0);
      for (let i = 0; i < Math.min(baseCount, 16); i++) {
        const org = str(md[`general.base_model.${i}.organization`]);
        const bn = str(md[`general.base_model.${i}.name`]);
        if (bn) facts.baseModels.push(org ? `${org}/${bn}` : bn);
      }
      if (arch) {
        for (const [k, hp] of Object.entries(GGUF_HYPERPARAMETERS)) {
          const v = str(md[`${arch}.${k}`]);
          if (v !== undefined) facts.hyperparameters[hp] ??= v;
        }
      }
      const tokens = md['tokenizer.ggml.tokens'];
      if (tokens && typeof tokens === 'object' && 'length' in tokens) facts.hyperparameters.vocab_size ??= String(tokens.length);
      const model = str(md['tokenizer.ggml.model']);
      if (model) facts.tokenizer.tokenizer_class ??= model;
      if (f.gguf.chatTemplateSha256) facts.chatTemplates.push({ source: `${f.path}#tokenizer.chat_template`, sha256: f.gguf.chatTemplateSha256 });
    }
    if (f.onnx) {
      facts.onnx ??= {
        ...(f.onnx.irVersion !== undefined ? { irVersion: f.onnx.irVersion } : {}),
        ...(f.onnx.producerName ? { producer: `${f.onnx.producerName}${f.onnx.producerVersion ? ` ${f.onnx.producerVersion}` : ''}` } : {}),
        opsets: f.onnx.opsets.map((o) => `${o.domain}:${o.version}`),
      };
      facts.architectureFamily ??= f.onnx.graphName?.slice(0, 200);
      facts.inputs.push(...f.onnx.inputs.map((i) => `${i.name}: ${i.type}`));
      facts.outputs.push(...f.onnx.outputs.map((o) => `${o.name}: ${o.type}`));
    }
    if (f.safetensors?.metadata.format) facts.hyperparameters.framework ??= f.safetensors.metadata.format;
    if (f.findings.some((x) => x.kind === 'trust-remote-code' || x.kind === 'python-code')) facts.remoteCode = true;
  }

  const has = (rel: string) => files.some((f) => f.path === rel);
  const config = has('config.json') ? await readJson(dir, 'config.json') : undefined;
  if (config) {
    const archs = strings(config.architectures);
    facts.architecture ??= archs[0];
    facts.architectureFamily = str(config.model_type) ?? facts.architectureFamily;
    facts.declaredDtype = str(config.torch_dtype) ?? str(config.dtype);
    for (const [k, hp] of Object.entries(CONFIG_HYPERPARAMETERS)) {
      const v = str(config[k]);
      if (v !== undefined) facts.hyperparameters[hp] ??= v;
    }
    const q = config.quantization_config;
    if (isPlainObject(q)) {
      const method = str(q.quant_method);
      const bits = str(q.bits) ?? (q.load_in_4bit === true ? '4' : q.load_in_8bit === true ? '8' : undefined);
      if (method) facts.quantization = bits ? `${method}-${bits}bit` : method;
    }
  }
  if (!facts.quantization && facts.declaredDtype) facts.quantization = facts.declaredDtype;

  const tok = has('tokenizer_config.json') ? await readJson(dir, 'tokenizer_config.json') : undefined;
  if (tok) {
    for (const k of ['tokenizer_class', 'bos_token', 'eos_token', 'pad_token', 'unk_token', 'padding_side']) {
      const v = tok[k];
      const s = str(v) ?? (isPlainObject(v) ? str(v.content) : undefined);
      if (s !== undefined) facts.tokenizer[k] = s;
    }
    const ct = tok.chat_template;
    if (typeof ct === 'string') facts.chatTemplates.push({ source: 'tokenizer_config.json#chat_template', sha256: sha256(ct) });
    else if (Array.isArray(ct)) {
      for (const t of ct.slice(0, 32)) {
        if (isPlainObject(t) && typeof t.template === 'string') {
          facts.chatTemplates.push({ source: `tokenizer_config.json#chat_template/${str(t.name) ?? 'default'}`, sha256: sha256(t.template) });
        }
      }
    }
  }
  if (has('chat_template.jinja')) {
    facts.chatTemplates.push({ source: 'chat_template.jinja', sha256: sha256(await readFile(path.join(dir, 'chat_template.jinja'), 'utf8')) });
  }

  const adapter = has('adapter_config.json') ? await readJson(dir, 'adapter_config.json') : undefined;
  if (adapter) {
    const base = str(adapter.base_model_name_or_path);
    if (base) facts.baseModels.push(base);
    const peft = str(adapter.peft_type);
    if (peft) facts.tuneMethod = peft.toLowerCase();
    facts.baseModelRelation ??= 'adapter';
  }

  const readme = has('README.md') ? await readFrontMatter(dir, 'README.md') : undefined;
  if (readme) {
    facts.license = str(readme.license) ?? facts.license;
    facts.task = str(readme.pipeline_tag) ?? facts.task;
    facts.datasets.push(...strings(readme.datasets));
    facts.baseModels.push(...strings(readme.base_model));
    facts.baseModelRelation = str(readme.base_model_relation) ?? facts.baseModelRelation;
    facts.languages.push(...strings(readme.language));
    const co2 = readme.co2_eq_emissions;
    const co2s = str(co2) ?? (isPlainObject(co2) ? str(co2.emissions) : undefined);
    if (co2s) facts.co2EqEmissions = co2s;
  }
  if (!facts.task && facts.architecture) facts.task = TASK_BY_HEAD.find(([re]) => re.test(facts.architecture!))?.[1];

  facts.datasets = [...new Set(facts.datasets)].slice(0, 256);
  facts.baseModels = [...new Set(facts.baseModels)].slice(0, 64);
  facts.languages = [...new Set(facts.languages)].slice(0, 256);
  return facts;
}

/** "1.7M", "8B": the taxonomy's human form of a parameter count. */
export function humanCount(n: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [v, u] of units) {
    if (n >= v) return `${Number((n / v).toPrecision(3))}${u}`;
  }
  return String(n);
}
