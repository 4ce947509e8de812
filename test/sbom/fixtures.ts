import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OCR_ASSETS } from '../formats/helpers.js';
import { writeGguf, writeSafetensors, writeTorchZip } from '../formats/writers.js';

export const CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}";

async function dirWith(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelseal-sbom-'));
  const model = path.join(dir, 'model');
  for (const [name, data] of Object.entries(files)) {
    const p = path.join(model, name);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, data);
  }
  return model;
}

/** A Hugging Face style Llama fine-tune: safetensors, configs, tokenizer with chat template, README card. */
export function llamaSafetensorsModel(): Promise<string> {
  return dirWith({
    'model.safetensors': writeSafetensors({
      'model.embed_tokens.weight': { dtype: 'BF16', shape: [128, 16], bytesPerElement: 2 },
      'model.layers.0.mlp.up_proj.weight': { dtype: 'BF16', shape: [32, 16], bytesPerElement: 2 },
      'model.norm.weight': { dtype: 'F32', shape: [16], bytesPerElement: 4 },
    }, { format: 'pt' }),
    'config.json': JSON.stringify({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', torch_dtype: 'bfloat16', hidden_size: 16,
      num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 32, vocab_size: 128,
      max_position_embeddings: 256, hidden_act: 'silu', rms_norm_eps: 1e-5,
    }),
    'generation_config.json': JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }),
    'tokenizer_config.json': JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: { content: '</s>' }, chat_template: CHAT_TEMPLATE }),
    'README.md': '---\nlicense: apache-2.0\npipeline_tag: text-generation\nlanguage: [en, fr]\ndatasets:\n  - wikitext\nbase_model: meta-llama/Llama-3.2-1B\nbase_model_relation: finetune\n---\n# Tiny llama\n',
  });
}

export function ggufModel(): Promise<string> {
  return dirWith({
    'tiny-q8_0.gguf': writeGguf([
      ['general.architecture', 'str', 'llama'],
      ['general.name', 'str', 'Tiny GGUF'],
      ['general.license', 'str', 'MIT'],
      ['general.file_type', 'u32', 7],
      ['llama.context_length', 'u32', 4096],
      ['llama.embedding_length', 'u32', 64],
      ['llama.block_count', 'u32', 2],
      ['tokenizer.ggml.model', 'str', 'gpt2'],
      ['tokenizer.ggml.tokens', 'strs', Array.from({ length: 100 }, (_, i) => `t${i}`)],
      ['tokenizer.chat_template', 'str', CHAT_TEMPLATE],
    ], [
      { name: 'token_embd.weight', dims: [64, 100], type: 8, bytes: (6400 / 32) * 34 },
      { name: 'output_norm.weight', dims: [64], type: 0, bytes: 256 },
    ]),
  });
}

export const TORCH_TENSORS = [
  { name: 'conv.weight', storage: 'FloatStorage', key: '0', shape: [8, 3, 3, 3] },
  { name: 'conv.bias', storage: 'FloatStorage', key: '1', shape: [8] },
  { name: 'fc.weight', storage: 'HalfStorage', key: '2', shape: [10, 8] },
];

export function pytorchModel(extra: Record<string, string | Uint8Array> = {}): Promise<string> {
  return dirWith({
    'pytorch_model.bin': writeTorchZip(TORCH_TENSORS),
    'config.json': JSON.stringify({ architectures: ['ResNetForImageClassification'], model_type: 'resnet' }),
    ...extra,
  });
}

export async function onnxModel(): Promise<string> {
  const dir = await dirWith({ 'README.md': '---\nlicense: mit\n---\nPP-OCR direction classifier\n' });
  await copyFile(path.join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), path.join(dir, 'cls.onnx'));
  return dir;
}
