import { crc32, deflateRawSync } from 'node:zlib';

/** Test-side writers for the formats modelseal parses: small, explicit, and easy to corrupt. */

export interface StTensor {
  dtype: string;
  shape: number[];
  bytesPerElement: number;
}

export function safetensorsHeader(header: Record<string, unknown>): Buffer {
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json)]);
}

/** A valid safetensors file: tensors laid out contiguously in insertion order. */
export function writeSafetensors(tensors: Record<string, StTensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, d) => a * d, 1) * t.bytesPerElement;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  return Buffer.concat([safetensorsHeader(header), Buffer.alloc(off, 7)]);
}

type GgufKv = [key: string, type: 'u32' | 'str' | 'f32' | 'bool' | 'u64' | 'strs' | 'i32s', value: unknown];

function ggufString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export interface GgufTensorSpec {
  name: string;
  dims: number[];
  type: number;
  bytes: number;
}

/** GGUF v3 (or v2) with the given metadata and tensors (offsets aligned to 32). */
export function writeGguf(kvs: GgufKv[], tensors: GgufTensorSpec[], version = 3): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(version), u64(tensors.length), u64(kvs.length)];
  for (const [key, type, value] of kvs) {
    parts.push(ggufString(key));
    if (type === 'u32') parts.push(u32(4), u32(value as number));
    else if (type === 'u64') parts.push(u32(10), u64(value as number));
    else if (type === 'bool') parts.push(u32(7), Buffer.from([value ? 1 : 0]));
    else if (type === 'f32') {
      const b = Buffer.alloc(4);
      b.writeFloatLE(value as number);
      parts.push(u32(6), b);
    } else if (type === 'str') parts.push(u32(8), ggufString(value as string));
    else if (type === 'strs') {
      const arr = value as string[];
      parts.push(u32(9), u32(8), u64(arr.length), ...arr.map(ggufString));
    } else {
      const arr = value as number[];
      parts.push(u32(9), u32(5), u64(arr.length), ...arr.map((n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; }));
    }
  }
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(off);
    off += Math.ceil(t.bytes / 32) * 32;
  }
  tensors.forEach((t, i) => parts.push(ggufString(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(offsets[i]!)));
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  return Buffer.concat([head, Buffer.alloc(off, 1)]);
}

/** Builds pickle bytes opcode by opcode (names as in CPython's pickletools). */
export class PickleWriter {
  private readonly parts: Buffer[] = [];
  private op(...bytes: (number | Buffer)[]): this {
    for (const b of bytes) this.parts.push(typeof b === 'number' ? Buffer.from([b]) : b);
    return this;
  }
  proto(n: number): this { return this.op(0x80, n); }
  global(module: string, name: string): this { return this.op(0x63, Buffer.from(`${module}\n${name}\n`)); }
  stackGlobal(): this { return this.op(0x93); }
  unicode(s: string): this { const b = Buffer.from(s); return this.op(0x58, u32(b.length), b); }
  shortUnicode(s: string): this { const b = Buffer.from(s); return this.op(0x8c, b.length, b); }
  string(s: string): this { return this.op(0x53, Buffer.from(`'${s}'\n`)); }
  binstring(s: string): this { const b = Buffer.from(s); return this.op(0x54, u32(b.length), b); }
  int(n: number): this { return n < 256 ? this.op(0x4b, n) : this.op(0x4a, u32(n)); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  tuple1(): this { return this.op(0x85); }
  tuple2(): this { return this.op(0x86); }
  emptyTuple(): this { return this.op(0x29); }
  emptyDict(): this { return this.op(0x7d); }
  setitem(): this { return this.op(0x73); }
  setitems(): this { return this.op(0x75); }
  reduce(): this { return this.op(0x52); }
  build(): this { return this.op(0x62); }
  newFalse(): this { return this.op(0x89); }
  binpersid(): this { return this.op(0x51); }
  binput(i: number): this { return this.op(0x71, i); }
  binget(i: number): this { return this.op(0x68, i); }
  memoize(): this { return this.op(0x94); }
  pop(): this { return this.op(0x30); }
  stop(): this { return this.op(0x2e); }
  bytes(): Buffer { return Buffer.concat(this.parts); }
}

export interface TorchTensor {
  name: string;
  storage: string;
  key: string;
  shape: number[];
}

/** The data.pkl torch.save writes for an OrderedDict state dict (protocol 2, memoised globals). */
export function torchStateDictPickle(tensors: TorchTensor[]): Buffer {
  const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').binput(0).emptyTuple().reduce().binput(1).mark();
  let memo = 2;
  let rebuild = -1;
  for (const t of tensors) {
    w.unicode(t.name).binput(memo++);
    if (rebuild < 0) w.global('torch._utils', '_rebuild_tensor_v2').binput((rebuild = memo++));
    else w.binget(rebuild);
    const numel = t.shape.reduce((a, d) => a * d, 1);
    w.mark().mark().unicode('storage').global('torch', t.storage).unicode(t.key).unicode('cpu').int(numel).tuple().binpersid();
    w.int(0).mark();
    for (const d of t.shape) w.int(d);
    w.tuple().mark();
    let stride = 1;
    const strides = t.shape.map(() => 0);
    for (let i = t.shape.length - 1; i >= 0; i--) {
      strides[i] = stride;
      stride *= t.shape[i]!;
    }
    for (const s of strides) w.int(s);
    w.tuple().newFalse().binget(0).emptyTuple().reduce().tuple().reduce().binput(memo++);
  }
  return w.setitems().stop().bytes();
}

export interface ZipFileSpec {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/** A minimal zip writer (stored or deflated entries, no zip64). */
export function writeZip(files: ZipFileSpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let off = 0;
  for (const f of files) {
    const name = Buffer.from(f.name);
    const body = f.deflate ? deflateRawSync(f.data) : Buffer.from(f.data);
    const crc = crc32(f.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(f.deflate ? 8 : 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(f.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    locals.push(lh, name, body);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(f.deflate ? 8 : 0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(f.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(off, 42);
    centrals.push(ch, name);
    off += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(files.length, 8);
  eocd.writeUInt16LE(files.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A torch.save zip checkpoint: archive/data.pkl, archive/data/<key>, version, byteorder. */
export function writeTorchZip(tensors: TorchTensor[], bytesPerElement = 4, extra: ZipFileSpec[] = []): Buffer {
  return writeZip([
    { name: 'archive/data.pkl', data: torchStateDictPickle(tensors) },
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...tensors.map((t) => ({ name: `archive/data/${t.key}`, data: Buffer.alloc(t.shape.reduce((a, d) => a * d, 1) * bytesPerElement, 0x80) })),
    { name: 'archive/version', data: Buffer.from('3\n') },
    { name: 'archive/.data/serialization_id', data: Buffer.from('1234567890\n') },
    ...extra,
  ]);
}

export function npyFile(descr: string, shape: number[], payload: Uint8Array): Buffer {
  return npyRaw(`'${descr}'`, payload, `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`);
}

/** .npy v1 with the header's descr given as Python literal text (a string, list or tuple). */
export function npyRaw(descrLiteral: string, payload: Uint8Array, shapeLiteral = '(1,)'): Buffer {
  let header = `{'descr': ${descrLiteral}, 'fortran_order': False, 'shape': ${shapeLiteral}, }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre);
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), payload]);
}
