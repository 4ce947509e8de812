import { decodeUtf8, formatError, type ByteReader } from './reader.js';
import { isPlainObject, parseStrictJson } from './strict-json.js';

/** The reference reader's cap (safetensors `MAX_HEADER_SIZE`). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** Bits per element; sub-byte types must still fill whole bytes per tensor. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8, E8M0: 8, FP4: 4, UE8: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32,
  C64: 64, F64: 64, I64: 64, U64: 64,
};

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsInfo {
  format: 'safetensors';
  headerLength: number;
  tensorCount: number;
  parameterCount: number;
  /** Element count per dtype. */
  dtypes: Record<string, number>;
  metadata: Record<string, string>;
  tensors: SafetensorsTensor[];
}

const F = 'safetensors';

export async function parseSafetensors(r: ByteReader): Promise<SafetensorsInfo> {
  if (r.size < 8) throw formatError(F, `file of ${r.size} bytes is shorter than the 8-byte length prefix`);
  const prefix = await r.read(0, 8);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_MAX_HEADER)) throw formatError(F, `header length ${n} exceeds ${SAFETENSORS_MAX_HEADER}`);
  const headerLength = Number(n);
  if (8 + headerLength > r.size) throw formatError(F, `header length ${headerLength} passes the end of the file (${r.size} bytes)`);
  const text = decodeUtf8(await r.read(8, headerLength), F, 'header');
  if (!text.startsWith('{')) throw formatError(F, 'header does not start with "{"');
  // The writer pads with spaces to an 8-byte boundary; JSON whitespace is all the reference allows.
  const header = parseStrictJson(text.replace(/[ \t\r\n]+$/, ''), F, 8);
  if (!isPlainObject(header)) throw formatError(F, 'header is not a JSON object');

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  const dtypes: Record<string, number> = {};
  let parameterCount = 0n;
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(v)) throw formatError(F, '__metadata__ is not an object');
      for (const [k, mv] of Object.entries(v)) {
        if (typeof mv !== 'string') throw formatError(F, `__metadata__ value for "${k}" is not a string`);
        metadata[k] = mv;
      }
      continue;
    }
    if (!isPlainObject(v)) throw formatError(F, `tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = v;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BITS)) throw formatError(F, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.length > 64 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw formatError(F, `tensor "${name}" has an invalid shape`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw formatError(F, `tensor "${name}" has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw formatError(F, `tensor "${name}" has data_offsets end ${end} before begin ${begin}`);
    const elements = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n);
    const bits = elements * BigInt(DTYPE_BITS[dtype]!);
    if (bits % 8n !== 0n) throw formatError(F, `tensor "${name}" does not fill whole bytes`);
    if (bits / 8n !== BigInt(end - begin)) {
      throw formatError(F, `tensor "${name}" spans ${end - begin} bytes but shape and dtype need ${bits / 8n}`);
    }
    parameterCount += elements;
    dtypes[dtype] = (dtypes[dtype] ?? 0) + Number(elements);
    tensors.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // Offsets must tile the data area from 0 without holes or overlaps (reference `validate`):
  // a hole could hide a second payload (polyglot file).
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of sorted) {
    if (t.begin !== expected) {
      throw formatError(F, `tensor "${t.name}" starts at ${t.begin}, expected ${expected} (overlap or hole in data offsets)`);
    }
    expected = t.end;
  }
  const dataSize = r.size - 8 - headerLength;
  if (expected !== dataSize) {
    throw formatError(F, expected > dataSize
      ? `tensor data ends at ${expected}, past the end of the file (${dataSize} data bytes)`
      : `${dataSize - expected} trailing bytes after the last tensor`);
  }
  if (parameterCount > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(F, 'parameter count out of range');
  return { format: 'safetensors', headerLength, tensorCount: tensors.length, parameterCount: Number(parameterCount), dtypes, metadata, tensors };
}

/**
 * `model.safetensors.index.json` names its shards; the names are attacker-controlled, so only plain
 * relative names inside the model are accepted (decoding `%2e%2e` until stable).
 */
export function parseSafetensorsIndex(text: string): { shards: string[]; totalSize?: number; tensorCount: number } {
  const doc = parseStrictJson(text, 'safetensors-index', 16);
  if (!isPlainObject(doc) || !isPlainObject(doc.weight_map)) throw formatError('safetensors-index', 'weight_map is missing');
  const shards = new Set<string>();
  let tensorCount = 0;
  for (const [tensor, file] of Object.entries(doc.weight_map)) {
    if (typeof file !== 'string') throw formatError('safetensors-index', `shard for "${tensor}" is not a string`);
    if (!isSafeRelativePath(file)) throw formatError('safetensors-index', `shard name ${JSON.stringify(file)} is not a plain relative path`);
    shards.add(file);
    tensorCount++;
  }
  const total = isPlainObject(doc.metadata) ? doc.metadata.total_size : undefined;
  return { shards: [...shards].sort(), tensorCount, ...(typeof total === 'number' ? { totalSize: total } : {}) };
}

/** Plain relative POSIX path: no absolute, no `..`, no backslash, no NUL, even after repeated %-decoding. */
export function isSafeRelativePath(p: string): boolean {
  let s = p;
  for (let k = 0; k < 8; k++) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      break;
    }
    if (d === s) break;
    s = d;
  }
  for (const candidate of [p, s]) {
    if (candidate.length === 0 || candidate.length > 4096) return false;
    if (candidate.startsWith('/') || candidate.includes('\\') || candidate.includes('\0') || /^[a-zA-Z]:/.test(candidate)) return false;
    if (candidate.split('/').some((seg) => seg === '..' || seg === '' || seg === '.')) return false;
  }
  return true;
}
