import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import type { Receipt } from './receipt.js';

/** Receipts embed one bundle and a file list; far beyond this is not a receipt. */
export const MAX_RECEIPT_BYTES = 64 * 1024 * 1024;

const bad = (file: string, what: string) => new ModelsealError('CONFIG_INVALID', `${file} is not a modelseal receipt: ${what}`);

/** Parse and shape-check a receipt (audit trusts none of it: every fact is re-derived or re-verified). */
export function parseReceipt(text: string, file: string): Receipt {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(file, `invalid JSON (${(err as Error).message})`);
  }
  const obj = (x: unknown, what: string): Record<string, unknown> => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(file, `${what} must be an object`);
    return x as Record<string, unknown>;
  };
  const str = (o: Record<string, unknown>, k: string, what: string, optional = false): void => {
    if (optional && o[k] === undefined) return;
    if (typeof o[k] !== 'string' || o[k] === '') throw bad(file, `${what}.${k} must be a non-empty string`);
  };
  const r = obj(v, 'the document');
  if (r.receiptVersion !== 1) throw bad(file, `receiptVersion must be 1, not ${JSON.stringify(r.receiptVersion)}`);
  for (const k of ['tool', 'createdAt', 'reference', 'placedAt']) str(r, k, 'receipt');
  str(r, 'resolvedDigest', 'receipt', true);
  const model = obj(r.model, 'model');
  str(model, 'name', 'model');
  str(model, 'rootDigest', 'model', true);
  const ser = obj(model.serialization, 'model.serialization');
  if (ser.method !== 'files' && ser.method !== 'shards') throw bad(file, 'model.serialization.method must be files or shards');
  if (ser.hashType !== 'sha256' && ser.hashType !== 'blake2b' && ser.hashType !== 'blake3') throw bad(file, 'model.serialization.hashType must be sha256, blake2b or blake3');
  if (!Array.isArray(ser.ignorePaths) || !ser.ignorePaths.every((p) => typeof p === 'string')) throw bad(file, 'model.serialization.ignorePaths must be a list');
  if (!Array.isArray(model.resources)) throw bad(file, 'model.resources must be a list');
  model.resources.forEach((x, i) => {
    const res = obj(x, `model.resources[${i}]`);
    for (const k of ['name', 'algorithm', 'digest']) str(res, k, `model.resources[${i}]`);
  });
  if (!Array.isArray(model.files)) throw bad(file, 'model.files must be a list');
  model.files.forEach((x, i) => {
    const f = obj(x, `model.files[${i}]`);
    str(f, 'path', `model.files[${i}]`);
    str(f, 'sha256', `model.files[${i}]`, true);
    if (typeof f.size !== 'number' || !Number.isSafeInteger(f.size) || f.size < 0) throw bad(file, `model.files[${i}].size must be a byte count`);
  });
  const sig = obj(r.signature, 'signature');
  for (const k of ['origin', 'predicateType', 'bundle', 'bundleSha256']) str(sig, k, 'signature');
  const signer = obj(r.signer, 'signer');
  str(signer, 'method', 'signer');
  str(signer, 'identity', 'signer');
  return r as unknown as Receipt;
}

export async function readReceipt(file: string): Promise<Receipt> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('NOT_FOUND', `cannot read receipt ${file}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw new ModelsealError('CONFIG_INVALID', `receipt ${file} is not a regular file`);
  if (st.size > MAX_RECEIPT_BYTES) throw new ModelsealError('CONFIG_INVALID', `receipt ${file} is ${st.size} bytes (limit ${MAX_RECEIPT_BYTES})`);
  return parseReceipt(await readFile(file, 'utf8'), file);
}
