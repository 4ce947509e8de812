import { createHash } from 'node:crypto';
import { Cursor, decodeUtf8, formatError, type ByteReader } from './reader.js';

const F = 'gguf';
const MAX_KV = 1_000_000;
const MAX_TENSORS = 1_000_000;
const MAX_KEY = 65_535;
/** Tokenizer vocabularies hold 128k–256k strings: bound the header's bytes, not array lengths. */
const MAX_HEADER_BYTES = 1 << 30;
const KEEP_STRING = 1 << 20;
const KEEP_ARRAY = 64;
const MAX_ARRAY_DEPTH = 4;

/** ggml_type → [block size in elements, bytes per block]. */
const GGML_TYPES: Record<number, [string, number, number]> = {
  0: ['F32', 1, 4], 1: ['F16', 1, 2], 2: ['Q4_0', 32, 18], 3: ['Q4_1', 32, 20], 6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24], 8: ['Q8_0', 32, 34], 9: ['Q8_1', 32, 36], 10: ['Q2_K', 256, 84], 11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144], 13: ['Q5_K', 256, 176], 14: ['Q6_K', 256, 210], 15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66], 17: ['IQ2_XS', 256, 74], 18: ['IQ3_XXS', 256, 98], 19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18], 21: ['IQ3_S', 256, 110], 22: ['IQ2_S', 256, 82], 23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1], 25: ['I16', 1, 2], 26: ['I32', 1, 4], 27: ['I64', 1, 8], 28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56], 30: ['BF16', 1, 2], 31: ['Q4_0_4_4', 32, 18], 32: ['Q4_0_4_8', 32, 18],
  33: ['Q4_0_8_8', 32, 18], 34: ['TQ1_0', 256, 54], 35: ['TQ2_0', 256, 66], 39: ['MXFP4', 32, 17],
};

/** `general.file_type` (llama_ftype) → quantization label. */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S',
  12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K',
  19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL',
  26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0',
  37: 'TQ2_0', 38: 'MXFP4_MOE',
};

export type GgufValue = number | bigint | boolean | string | GgufArray;
/** Arrays keep their length and at most the first 64 elements. */
export interface GgufArray {
  type: number;
  length: number;
  items: GgufValue[];
}

export interface GgufTensor {
  name: string;
  dims: number[];
  type: string;
  offset: number;
  size: number;
}

export interface GgufInfo {
  format: 'gguf';
  version: number;
  metadata: Record<string, GgufValue>;
  /** Keys whose string value was too long to keep; value is its byte length. */
  longStrings: Record<string, number>;
  chatTemplateSha256?: string;
  /** The template text (up to 4 MiB) for the template scan. */
  chatTemplate?: string;
  architecture?: string;
  alignment: number;
  tensorCount: number;
  parameterCount: number;
  /** Element count per ggml type. */
  dtypes: Record<string, number>;
  quantization?: string;
  dataOffset: number;
  tensors: GgufTensor[];
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

async function readString(c: Cursor, what: string, max = Number.MAX_SAFE_INTEGER): Promise<{ text?: string; bytes: Uint8Array | undefined; length: number }> {
  await c.need(8);
  const len = c.u64n(`${what} length`);
  if (len > max) throw formatError(F, `${what} length ${len} exceeds ${max}`);
  if (c.pos + len > c.limit) throw formatError(F, `truncated: ${what} of ${len} bytes at offset ${c.pos}`);
  if (len > KEEP_STRING) {
    c.skip(len);
    return { bytes: undefined, length: len };
  }
  await c.need(len);
  const bytes = c.bytes(len);
  return { text: decodeUtf8(bytes, F, what), bytes, length: len };
}

async function readScalar(c: Cursor, type: number): Promise<number | bigint | boolean> {
  await c.need(SCALAR_SIZE[type]!);
  switch (type) {
    case 0: return c.u8();
    case 1: { const v = c.u8(); return v > 127 ? v - 256 : v; }
    case 2: return c.u16();
    case 3: { const v = c.u16(); return v > 32767 ? v - 65536 : v; }
    case 4: return c.u32();
    case 5: return c.i32();
    case 6: return c.f32();
    case 7: {
      const b = c.u8();
      if (b > 1) throw formatError(F, `BOOL value ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case 10: return c.u64();
    case 11: return c.i64();
    default: return c.f64();
  }
}

async function readValue(c: Cursor, type: number, key: string, depth: number, onLongString: (len: number) => void): Promise<GgufValue> {
  if (type in SCALAR_SIZE) return readScalar(c, type);
  if (type === 8) {
    const s = await readString(c, `value of ${key}`);
    if (s.text === undefined) onLongString(s.length);
    return s.text ?? '';
  }
  if (type === 9) {
    if (depth >= MAX_ARRAY_DEPTH) throw formatError(F, `arrays nested deeper than ${MAX_ARRAY_DEPTH} in ${key}`);
    await c.need(12);
    const itemType = c.u32();
    const length = c.u64n(`array length of ${key}`);
    if (!(itemType in SCALAR_SIZE) && itemType !== 8 && itemType !== 9) throw formatError(F, `array of ${key} has unknown type ${itemType}`);
    const minItem = SCALAR_SIZE[itemType] ?? 8;
    if (length * minItem > c.limit - c.pos) throw formatError(F, `truncated: array ${key} of ${length} items`);
    const items: GgufValue[] = [];
    if (itemType in SCALAR_SIZE && length > KEEP_ARRAY) {
      for (let i = 0; i < KEEP_ARRAY; i++) items.push(await readScalar(c, itemType));
      if (itemType === 7) {
        for (let i = KEEP_ARRAY; i < length; i++) await readScalar(c, 7);
      } else {
        c.skip((length - KEEP_ARRAY) * minItem);
      }
      return { type: itemType, length, items };
    }
    for (let i = 0; i < length; i++) {
      const v = await readValue(c, itemType, key, depth + 1, () => undefined);
      if (i < KEEP_ARRAY) items.push(typeof v === 'string' && v.length > 1024 ? v.slice(0, 1024) : v);
    }
    return { type: itemType, length, items };
  }
  throw formatError(F, `metadata ${key} has unknown value type ${type}`);
}

function toSafeNumber(v: GgufValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

export async function parseGguf(r: ByteReader): Promise<GgufInfo> {
  const c = new Cursor(r, F, 0, Math.min(r.size, MAX_HEADER_BYTES), 1 << 20);
  await c.need(24);
  const magic = c.bytes(4);
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46) throw formatError(F, 'bad magic (not "GGUF")');
  const version = c.u32();
  // v1 used u32 counts and big-endian files read as huge versions: neither is read by current loaders.
  if (version !== 2 && version !== 3) throw formatError(F, `unsupported version ${version}`);
  const tensorCount = c.u64n('tensor count');
  const kvCount = c.u64n('metadata count');
  if (tensorCount > MAX_TENSORS) throw formatError(F, `tensor count ${tensorCount} exceeds ${MAX_TENSORS}`);
  if (kvCount > MAX_KV) throw formatError(F, `metadata count ${kvCount} exceeds ${MAX_KV}`);

  const metadata: Record<string, GgufValue> = Object.create(null) as Record<string, GgufValue>;
  const longStrings: Record<string, number> = {};
  let chatTemplateSha256: string | undefined;
  let chatTemplate: string | undefined;
  for (let i = 0; i < kvCount; i++) {
    const k = await readString(c, 'metadata key', MAX_KEY);
    const key = k.text!;
    if (Object.hasOwn(metadata, key)) throw formatError(F, `duplicate metadata key "${key.slice(0, 80)}"`);
    await c.need(4);
    const type = c.u32();
    if (key === 'tokenizer.chat_template' && type === 8) {
      // Hash the template whatever its length: a changed template changes model behaviour.
      const start = c.pos;
      const s = await readString(c, 'tokenizer.chat_template');
      if (s.length > 64 << 20) throw formatError(F, `tokenizer.chat_template of ${s.length} bytes is implausibly large`);
      const bytes = s.bytes ?? (await r.read(start + 8, s.length));
      chatTemplateSha256 = createHash('sha256').update(bytes).digest('hex');
      if (s.length <= 4 << 20) chatTemplate = Buffer.from(bytes).toString('utf8');
      metadata[key] = s.text ?? '';
      if (s.text === undefined) longStrings[key] = s.length;
      continue;
    }
    metadata[key] = await readValue(c, type, key, 0, (len) => (longStrings[key] = len));
  }

  const alignmentValue = metadata['general.alignment'];
  const alignment = alignmentValue === undefined ? 32 : toSafeNumber(alignmentValue);
  if (alignment === undefined || alignment <= 0 || alignment % 8 !== 0 || alignment > 1 << 20) {
    throw formatError(F, `general.alignment ${String(alignmentValue)} is not a positive multiple of 8`);
  }

  const tensors: GgufTensor[] = [];
  const names = new Set<string>();
  const dtypes: Record<string, number> = {};
  let parameterCount = 0n;
  for (let i = 0; i < tensorCount; i++) {
    const n = await readString(c, 'tensor name', 256);
    const name = n.text!;
    if (names.has(name)) throw formatError(F, `duplicate tensor name "${name}"`);
    names.add(name);
    await c.need(4);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) throw formatError(F, `tensor "${name}" has ${nDims} dimensions (1–4 allowed)`);
    await c.need(nDims * 8 + 12);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const dim = c.u64();
      if (dim > 1n << 40n) throw formatError(F, `tensor "${name}" dimension ${dim} is out of range`);
      dims.push(Number(dim));
      elements *= dim;
    }
    const typeId = c.u32();
    const t = GGML_TYPES[typeId];
    if (!t) throw formatError(F, `tensor "${name}" has unknown ggml type ${typeId}`);
    const offset = c.u64n(`offset of tensor "${name}"`);
    if (offset % alignment !== 0) throw formatError(F, `tensor "${name}" offset ${offset} is not aligned to ${alignment}`);
    const [typeName, block, blockBytes] = t;
    if (dims[0]! % block !== 0) throw formatError(F, `tensor "${name}" row of ${dims[0]} is not a multiple of the ${typeName} block (${block})`);
    const size = (elements / BigInt(block)) * BigInt(blockBytes);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(F, `tensor "${name}" is too large`);
    parameterCount += elements;
    dtypes[typeName] = (dtypes[typeName] ?? 0) + Number(elements);
    tensors.push({ name, dims, type: typeName, offset, size: Number(size) });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataSize = r.size - dataOffset;
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let prevEnd = 0;
  let prevName = '';
  for (const t of sorted) {
    if (t.offset < prevEnd) throw formatError(F, `tensor "${t.name}" overlaps "${prevName}"`);
    if (t.offset + t.size > dataSize) {
      throw formatError(F, `tensor "${t.name}" data (${t.size} bytes at ${t.offset}) passes the end of the file`);
    }
    prevEnd = t.offset + t.size;
    prevName = t.name;
  }

  const arch = metadata['general.architecture'];
  const architecture = typeof arch === 'string' ? arch : undefined;
  if (architecture !== undefined && !/^[a-z0-9_-]+$/.test(architecture)) throw formatError(F, `general.architecture ${JSON.stringify(architecture.slice(0, 40))} is not a plain name`);
  const fileType = toSafeNumber(metadata['general.file_type']);
  const quantization = fileType !== undefined ? (FILE_TYPES[fileType] ?? `file_type_${fileType}`) : dominant(dtypes);
  if (parameterCount > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(F, 'parameter count out of range');
  return {
    format: 'gguf', version, metadata, longStrings, alignment, tensorCount, parameterCount: Number(parameterCount), dtypes,
    dataOffset, tensors,
    ...(architecture !== undefined ? { architecture } : {}),
    ...(quantization !== undefined ? { quantization } : {}),
    ...(chatTemplateSha256 !== undefined ? { chatTemplateSha256 } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
  };
}

function dominant(h: Record<string, number>): string | undefined {
  let best: string | undefined;
  for (const [k, v] of Object.entries(h)) if (best === undefined || v > h[best]!) best = k;
  return best;
}
