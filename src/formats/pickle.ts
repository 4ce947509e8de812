import { Cursor, formatError, type ByteReader } from './reader.js';
import { judgeGlobal, storageDtype, type GlobalVerdict } from './pickle-globals.js';

/**
 * A pickle disassembler with a real value stack and memo (never executes anything). Look-back
 * heuristics miss STACK_GLOBAL arguments built from memo GETs or STRING opcodes (picklescan
 * GHSA-9gvj, #52); simulating the stack resolves them, and anything it cannot resolve is reported.
 */

const F = 'pickle';
const MAX_STACK = 1_000_000;
const MAX_MEMO = 4_000_000;
const MAX_OPS = 200_000_000;
const MAX_STRING = 64 << 20;
/** Pickles per stream: a file of a million one-byte pickles is not a model. */
const MAX_PICKLES = 100_000;
/** The first of the five pickles of a legacy (pre-zip) `torch.save` file. */
const LEGACY_TORCH_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Bytes per element of the legacy storage dtypes (`torch._utils._element_size`). */
const ELEMENT_SIZE: Record<string, number> = {
  F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, C64: 8, C128: 16,
  QUINT8: 1, QINT8: 1, QINT32: 4, QUINT4X2: 1, QUINT2X4: 1,
};

type PV =
  | { t: 'str'; v: string }
  | { t: 'int'; v: bigint }
  | { t: 'scalar' }
  | { t: 'tuple'; items: PV[] }
  | { t: 'list'; items: PV[] }
  | { t: 'dict'; size: number }
  | { t: 'global'; module: string; name: string }
  | { t: 'persid'; pid: PV }
  | { t: 'tensor'; dtype: string; shape: number[] }
  | { t: 'object' }
  | { t: 'unknown' };

const MARK = Symbol('mark');
type Slot = PV | typeof MARK;

export interface PickleGlobal {
  module: string;
  name: string;
  opcode: string;
  offset: number;
  verdict: GlobalVerdict;
  /** Why an unsafe global is unsafe, with the published technique it matches. */
  reason?: string;
}

export interface PickleIssue {
  opcode: string;
  offset: number;
  reason: string;
}

export interface PickleTensor {
  dtype: string;
  shape: number[];
}

export interface PickleScan {
  pickles: number;
  protocol: number;
  globals: PickleGlobal[];
  /** Operations whose target could not be resolved: fail closed. */
  unresolved: PickleIssue[];
  /** Counts of the opcodes that call or construct (REDUCE, BUILD, NEWOBJ, INST, OBJ, EXT*, PERSID…). */
  calls: Record<string, number>;
  tensors: PickleTensor[];
  /** Calls (REDUCE, NEWOBJ, INST, OBJ) that completed on a resolved global: what makes bytes a working pickle. */
  invoked: number;
  /** Offset where the last complete pickle ended (its STOP, or the end of the FRAME around it). */
  end: number;
  /** Legacy torch.save layout: five pickles, then raw storages that were walked record by record. */
  legacyTorch?: boolean;
  /** Set when the stream was malformed; globals seen before the error are kept. */
  error?: string;
}

const CALL_OPS = new Set(['REDUCE', 'BUILD', 'NEWOBJ', 'NEWOBJ_EX', 'INST', 'OBJ', 'EXT1', 'EXT2', 'EXT4', 'PERSID', 'BINPERSID']);

class Machine {
  stack: Slot[] = [];
  memo = new Map<number, PV>();
  /** End of the current FRAME: the loader reads whole frames, so the next pickle starts after it. */
  frameEnd = 0;
  /** Storage key → dtype, from the persistent ids of a legacy torch.save object pickle. */
  storages = new Map<string, string>();
  constructor(readonly c: Cursor, readonly out: PickleScan) {}

  push(v: PV): void {
    if (this.stack.length >= MAX_STACK) throw formatError(F, `stack deeper than ${MAX_STACK}`);
    this.stack.push(v);
  }
  pop(): PV {
    const v = this.stack.pop();
    if (v === undefined) throw formatError(F, `stack underflow at offset ${this.c.pos}`);
    if (v === MARK) throw formatError(F, `unexpected MARK at offset ${this.c.pos}`);
    return v;
  }
  top(): PV {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) throw formatError(F, `no value on the stack at offset ${this.c.pos}`);
    return v;
  }
  popMark(): PV[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) throw formatError(F, `no MARK on the stack at offset ${this.c.pos}`);
    const items = this.stack.splice(i) as PV[];
    items.shift();
    return items;
  }
  memoPut(idx: number, v: PV): void {
    if (this.memo.size >= MAX_MEMO && !this.memo.has(idx)) throw formatError(F, `memo larger than ${MAX_MEMO}`);
    this.memo.set(idx, v);
  }
  memoGet(idx: number, op: string, offset: number): PV {
    const v = this.memo.get(idx);
    if (v !== undefined) return v;
    this.out.unresolved.push({ opcode: op, offset, reason: `memo index ${idx} was never set` });
    return { t: 'unknown' };
  }

  async line(): Promise<string> {
    const start = this.c.pos;
    for (;;) {
      if (this.c.pos - start > 1 << 16) throw formatError(F, `text argument longer than 64 KiB at offset ${start}`);
      await this.c.need(1);
      if (this.c.u8() === 0x0a) break;
    }
    const len = this.c.pos - start - 1;
    this.c.pos = start;
    await this.c.need(len + 1);
    const s = Buffer.from(this.c.bytes(len)).toString('latin1');
    this.c.skip(1);
    return s;
  }
  async bytes(n: number, what: string): Promise<Uint8Array> {
    if (n < 0 || n > MAX_STRING) throw formatError(F, `${what} length ${n} is out of range`);
    await this.c.need(n);
    return this.c.bytes(n);
  }
  async str(n: number, what: string): Promise<PV> {
    return { t: 'str', v: Buffer.from(await this.bytes(n, what)).toString('utf8') };
  }
  async u8(): Promise<number> {
    await this.c.need(1);
    return this.c.u8();
  }
  async u16(): Promise<number> {
    await this.c.need(2);
    return this.c.u16();
  }
  async u32(): Promise<number> {
    await this.c.need(4);
    return this.c.u32();
  }
  async i32(): Promise<number> {
    await this.c.need(4);
    return this.c.i32();
  }
  async u64(what: string): Promise<number> {
    await this.c.need(8);
    return this.c.u64n(what);
  }

  global(module: string, name: string, op: string, offset: number): PV {
    if (this.out.globals.length < 100_000) {
      const j = judgeGlobal(module, name);
      this.out.globals.push({ module, name, opcode: op, offset, verdict: j.verdict, ...(j.reason ? { reason: j.reason } : {}) });
    }
    return { t: 'global', module, name };
  }

  /** Symbolic results of the calls a state dict makes, so tensors can be inventoried. */
  call(fn: PV, args: PV): PV {
    if (fn.t !== 'global' || args.t !== 'tuple') return { t: 'object' };
    const full = `${fn.module}.${fn.name}`;
    if ((full === 'torch._utils._rebuild_tensor_v2' || full === 'torch._utils._rebuild_tensor') && args.items.length >= 3) {
      const [storage, , size] = args.items;
      let dtype = 'unknown';
      if (storage?.t === 'persid' && storage.pid.t === 'tuple') {
        const cls = storage.pid.items[1];
        if (cls?.t === 'global') dtype = storageDtype(cls.module, cls.name) ?? 'unknown';
      }
      const shape = size?.t === 'tuple' && size.items.every((d) => d.t === 'int') ? size.items.map((d) => Number((d as { v: bigint }).v)) : undefined;
      if (shape && this.out.tensors.length < 1_000_000) {
        const tensor: PV = { t: 'tensor', dtype, shape };
        this.out.tensors.push({ dtype, shape });
        return tensor;
      }
    }
    if (full === 'torch._utils._rebuild_parameter' || full === 'torch.nn.parameter.Parameter') {
      // The tensor was already counted when it was rebuilt.
      return args.items[0] ?? { t: 'object' };
    }
    return { t: 'object' };
  }

  stackGlobal(op: string, offset: number): PV {
    const name = this.pop();
    const module = this.pop();
    if (module.t === 'str' && name.t === 'str') return this.global(module.v, name.v, op, offset);
    this.out.unresolved.push({ opcode: op, offset, reason: `STACK_GLOBAL operands are not literal strings (${module.t}, ${name.t})` });
    return { t: 'unknown' };
  }
}

/**
 * Runs one pickle from the cursor's position to its STOP: the protocol it declared and the value
 * it returns. Every pickle gets a fresh stack and memo, as `pickle.load` gives it: a memo carried
 * over would resolve a BINGET to the previous pickle's strings instead of failing closed.
 */
async function runOne(m: Machine): Promise<{ protocol: number; value: PV }> {
  const { c, out } = m;
  let protocol = 0;
  m.stack = [];
  m.memo = new Map();
  m.frameEnd = 0;
  for (let ops = 0; ; ops++) {
    if (ops > MAX_OPS) throw formatError(F, `more than ${MAX_OPS} opcodes`);
    const offset = c.pos;
    const op = await m.u8();
    const count = (name: string): void => {
      if (CALL_OPS.has(name)) out.calls[name] = (out.calls[name] ?? 0) + 1;
    };
    switch (op) {
      case 0x80: { // PROTO
        protocol = await m.u8();
        if (protocol > 5) throw formatError(F, `unsupported protocol ${protocol} at offset ${offset}`);
        break;
      }
      case 0x95: { // FRAME: the loader reads the whole frame before running it
        const len = await m.u64('FRAME length');
        if (c.pos + len > c.limit) throw formatError(F, `FRAME of ${len} bytes at offset ${offset} passes the end of the data`);
        m.frameEnd = c.pos + len;
        break;
      }
      case 0x2e: return { protocol, value: m.stack.length > 0 ? m.top() : { t: 'unknown' } }; // STOP
      case 0x28: // MARK
        if (m.stack.length >= MAX_STACK) throw formatError(F, `stack deeper than ${MAX_STACK}`);
        m.stack.push(MARK);
        break;
      case 0x30: { // POP
        const v = m.stack.pop();
        if (v === undefined) throw formatError(F, `stack underflow at offset ${offset}`);
        break;
      }
      case 0x31: m.popMark(); break; // POP_MARK
      case 0x32: m.push(m.top()); break; // DUP
      case 0x46: await m.line(); m.push({ t: 'scalar' }); break; // FLOAT
      case 0x49: case 0x4c: { // INT, LONG (text)
        const s = (await m.line()).replace(/L$/, '');
        m.push(/^[+-]?\d+$/.test(s) && s.length < 40 ? { t: 'int', v: BigInt(s) } : { t: 'scalar' });
        break;
      }
      case 0x4a: m.push({ t: 'int', v: BigInt(await m.i32()) }); break; // BININT
      case 0x4b: m.push({ t: 'int', v: BigInt(await m.u8()) }); break; // BININT1
      case 0x4d: m.push({ t: 'int', v: BigInt(await m.u16()) }); break; // BININT2
      case 0x8a: case 0x8b: { // LONG1, LONG4
        const n = op === 0x8a ? await m.u8() : await m.i32();
        const b = await m.bytes(n, 'LONG');
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (b.length > 0 && (b[b.length - 1]! & 0x80) !== 0) v -= 1n << BigInt(8 * b.length);
        m.push({ t: 'int', v });
        break;
      }
      case 0x4e: case 0x88: case 0x89: m.push({ t: 'scalar' }); break; // NONE, NEWTRUE, NEWFALSE
      case 0x47: await m.bytes(8, 'BINFLOAT'); m.push({ t: 'scalar' }); break; // BINFLOAT
      case 0x53: { // STRING: quoted repr
        const s = await m.line();
        const q = /^(['"])(.*)\1$/s.exec(s);
        if (!q) throw formatError(F, `STRING argument is not quoted at offset ${offset}`);
        m.push({ t: 'str', v: q[2]! });
        break;
      }
      case 0x56: m.push({ t: 'str', v: await m.line() }); break; // UNICODE (raw-unicode-escape)
      case 0x54: m.push(await m.str(await m.i32(), 'BINSTRING')); break;
      case 0x55: m.push(await m.str(await m.u8(), 'SHORT_BINSTRING')); break;
      case 0x58: m.push(await m.str(await m.u32(), 'BINUNICODE')); break;
      case 0x8c: m.push(await m.str(await m.u8(), 'SHORT_BINUNICODE')); break;
      case 0x8d: m.push(await m.str(await m.u64('BINUNICODE8 length'), 'BINUNICODE8')); break;
      case 0x42: await m.bytes(await m.u32(), 'BINBYTES'); m.push({ t: 'scalar' }); break;
      case 0x43: await m.bytes(await m.u8(), 'SHORT_BINBYTES'); m.push({ t: 'scalar' }); break;
      case 0x8e: await m.bytes(await m.u64('BINBYTES8 length'), 'BINBYTES8'); m.push({ t: 'scalar' }); break;
      case 0x96: await m.bytes(await m.u64('BYTEARRAY8 length'), 'BYTEARRAY8'); m.push({ t: 'scalar' }); break;
      case 0x97: m.push({ t: 'unknown' }); break; // NEXT_BUFFER: out-of-band data
      case 0x98: break; // READONLY_BUFFER
      case 0x29: m.push({ t: 'tuple', items: [] }); break; // EMPTY_TUPLE
      case 0x74: m.push({ t: 'tuple', items: m.popMark() }); break; // TUPLE
      case 0x85: m.push({ t: 'tuple', items: [m.pop()] }); break; // TUPLE1
      case 0x86: { const b = m.pop(); const a = m.pop(); m.push({ t: 'tuple', items: [a, b] }); break; }
      case 0x87: { const c3 = m.pop(); const b = m.pop(); const a = m.pop(); m.push({ t: 'tuple', items: [a, b, c3] }); break; }
      case 0x5d: m.push({ t: 'list', items: [] }); break; // EMPTY_LIST
      case 0x6c: m.push({ t: 'list', items: m.popMark() }); break; // LIST
      case 0x61: { const v = m.pop(); const l = m.top(); if (l.t === 'list' && l.items.length < 1 << 20) l.items.push(v); break; } // APPEND
      case 0x65: { const vs = m.popMark(); const l = m.top(); if (l.t === 'list' && l.items.length < 1 << 20) l.items.push(...vs.slice(0, 1 << 16)); break; } // APPENDS
      case 0x7d: m.push({ t: 'dict', size: 0 }); break; // EMPTY_DICT
      case 0x64: m.push({ t: 'dict', size: m.popMark().length / 2 }); break; // DICT
      case 0x73: { m.pop(); m.pop(); const d = m.top(); if (d.t === 'dict') d.size++; break; } // SETITEM
      case 0x75: { const kv = m.popMark(); const d = m.top(); if (d.t === 'dict') d.size += kv.length / 2; break; } // SETITEMS
      case 0x8f: m.push({ t: 'object' }); break; // EMPTY_SET
      case 0x90: m.popMark(); m.top(); break; // ADDITEMS
      case 0x91: m.popMark(); m.push({ t: 'object' }); break; // FROZENSET
      case 0x63: { // GLOBAL
        const module = await m.line();
        const name = await m.line();
        m.push(m.global(module, name, 'GLOBAL', offset));
        break;
      }
      case 0x93: m.push(m.stackGlobal('STACK_GLOBAL', offset)); break;
      case 0x69: { // INST: global + call with marked args
        const module = await m.line();
        const name = await m.line();
        count('INST');
        m.popMark();
        m.global(module, name, 'INST', offset);
        out.invoked++;
        m.push({ t: 'object' });
        break;
      }
      case 0x6f: { // OBJ: cls and args after MARK
        count('OBJ');
        const items = m.popMark();
        const cls = items[0];
        if (!cls || cls.t !== 'global') out.unresolved.push({ opcode: 'OBJ', offset, reason: 'class is not a resolved global' });
        else out.invoked++;
        m.push({ t: 'object' });
        break;
      }
      case 0x52: { // REDUCE
        count('REDUCE');
        const args = m.pop();
        const fn = m.pop();
        if (fn.t !== 'global') out.unresolved.push({ opcode: 'REDUCE', offset, reason: `callable is not a resolved global (${fn.t})` });
        else out.invoked++;
        m.push(m.call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        count('NEWOBJ');
        m.pop();
        const cls = m.pop();
        if (cls.t !== 'global') out.unresolved.push({ opcode: 'NEWOBJ', offset, reason: `class is not a resolved global (${cls.t})` });
        else out.invoked++;
        m.push({ t: 'object' });
        break;
      }
      case 0x92: { // NEWOBJ_EX
        count('NEWOBJ_EX');
        m.pop();
        m.pop();
        const cls = m.pop();
        if (cls.t !== 'global') out.unresolved.push({ opcode: 'NEWOBJ_EX', offset, reason: `class is not a resolved global (${cls.t})` });
        else out.invoked++;
        m.push({ t: 'object' });
        break;
      }
      case 0x62: { // BUILD: setstate on the object below; a global there is how `__builtins__` gets patched
        count('BUILD');
        m.pop();
        const target = m.top();
        if (target.t === 'global' && !target.name.startsWith('_rebuild')) {
          out.unresolved.push({ opcode: 'BUILD', offset, reason: `BUILD mutates the global ${target.module}.${target.name}` });
        }
        break;
      }
      case 0x50: { // PERSID
        count('PERSID');
        m.push({ t: 'persid', pid: { t: 'str', v: await m.line() } });
        break;
      }
      case 0x51: { // BINPERSID
        count('BINPERSID');
        const pid = m.pop();
        // Legacy torch persistent ids: ('storage', storage_type, key, location, numel, view_metadata).
        if (pid.t === 'tuple' && pid.items[0]?.t === 'str' && pid.items[0].v === 'storage' && pid.items[1]?.t === 'global' && pid.items[2]?.t === 'str') {
          const dtype = storageDtype(pid.items[1].module, pid.items[1].name);
          if (dtype !== undefined && m.storages.size < 1_000_000) m.storages.set(pid.items[2].v, dtype);
        }
        m.push({ t: 'persid', pid });
        break;
      }
      case 0x82: case 0x83: case 0x84: { // EXT1/2/4: copyreg extension registry, not resolvable offline
        const name = op === 0x82 ? 'EXT1' : op === 0x83 ? 'EXT2' : 'EXT4';
        count(name);
        const code = op === 0x82 ? await m.u8() : op === 0x83 ? await m.u16() : await m.i32();
        out.unresolved.push({ opcode: name, offset, reason: `extension code ${code} names a global through copyreg` });
        m.push({ t: 'unknown' });
        break;
      }
      case 0x70: { const idx = Number((await m.line()).trim()); if (!Number.isSafeInteger(idx) || idx < 0) throw formatError(F, `bad PUT index at offset ${offset}`); m.memoPut(idx, m.top()); break; }
      case 0x71: m.memoPut(await m.u8(), m.top()); break; // BINPUT
      case 0x72: m.memoPut(await m.u32(), m.top()); break; // LONG_BINPUT
      case 0x94: m.memoPut(m.memo.size, m.top()); break; // MEMOIZE
      case 0x67: { const idx = Number((await m.line()).trim()); m.push(m.memoGet(idx, 'GET', offset)); break; }
      case 0x68: m.push(m.memoGet(await m.u8(), 'BINGET', offset)); break;
      case 0x6a: m.push(m.memoGet(await m.u32(), 'LONG_BINGET', offset)); break;
      default:
        throw formatError(F, `unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${offset}`);
    }
  }
}

export function emptyScan(): PickleScan {
  return { pickles: 0, protocol: 0, globals: [], unresolved: [], calls: {}, tensors: [], invoked: 0, end: 0 };
}

/** Bytes per element of a legacy storage dtype, for walking raw storages. */
export function elementSize(dtype: string): number | undefined {
  return ELEMENT_SIZE[dtype];
}

export type PickleValue = PV;

/**
 * One file position read the way a loader reads it: `load()` runs one pickle (as one
 * `pickle.load(f)` call), the other methods read the raw records loaders put between pickles.
 * Findings accumulate in `out`; errors throw FORMAT_INVALID for the caller to record.
 */
export class PickleStream {
  readonly out = emptyScan();
  private readonly m: Machine;
  constructor(private readonly r: ByteReader, start = 0) {
    this.m = new Machine(new Cursor(r, F, start, r.size, 1 << 16), this.out);
  }
  /** End of the FRAME the last pickle stopped in (0 if none). */
  frameEnd = 0;
  get pos(): number {
    return this.m.c.pos;
  }
  get atEnd(): boolean {
    return this.m.c.pos >= this.r.size;
  }
  /** Storage key → dtype seen in persistent ids so far. */
  get storages(): ReadonlyMap<string, string> {
    return this.m.storages;
  }
  async load(): Promise<PV> {
    if (this.out.pickles >= MAX_PICKLES) throw formatError(F, `more than ${MAX_PICKLES} pickles`);
    const { protocol, value } = await runOne(this.m);
    this.out.protocol = Math.max(this.out.protocol, protocol);
    this.out.pickles++;
    this.frameEnd = this.m.frameEnd;
    this.out.end = this.m.c.pos;
    return value;
  }
  /** A little-endian 64-bit count (non-negative, safe integer). */
  async int64(what: string): Promise<number> {
    return this.m.u64(what);
  }
  async int32(): Promise<number> {
    return this.m.i32();
  }
  skip(n: number): void {
    this.m.c.skip(n);
    this.out.end = this.m.c.pos;
  }
}

/**
 * Scans the pickle stream at `start`. Malformed streams do not throw: the error is recorded with
 * every global seen before it, because a broken stream has already run what came before the
 * error when loaded. `consecutive`: every pickle until the bytes end, whatever its protocol (a
 * second `pickle.load` on the same file, legacy torch.save's five pickles); a legacy torch.save
 * file's raw storages after its fifth pickle are walked record by record, not parsed as opcodes.
 */
export async function scanPickle(r: ByteReader, start = 0, opts: { consecutive?: boolean } = {}): Promise<PickleScan> {
  const s = new PickleStream(r, start);
  /**
   * Where the next `pickle.load` starts after a STOP inside a FRAME depends on the file object:
   * a real file (it has `peek`) continues right after STOP, a BytesIO after the whole frame.
   * Both are scanned.
   */
  const alternates: number[] = [];
  try {
    do {
      const value = await s.load();
      if (!opts.consecutive) break;
      if (s.frameEnd > s.pos && alternates.length < 16) alternates.push(s.frameEnd);
      if (s.out.pickles === 1 && value.t === 'int' && value.v === LEGACY_TORCH_MAGIC) s.out.legacyTorch = true;
      if (s.out.legacyTorch && s.out.pickles === 5) await skipLegacyStorages(s, value);
    } while (!s.atEnd);
  } catch (err) {
    s.out.error = err instanceof Error ? err.message : String(err);
  }
  for (const at of alternates) {
    if (at >= r.size) continue;
    const alt = await scanPickle(r, at, opts);
    const o = s.out;
    o.globals.push(...alt.globals.slice(0, 100_000 - o.globals.length));
    o.unresolved.push(...alt.unresolved);
    for (const [k, v] of Object.entries(alt.calls)) o.calls[k] = (o.calls[k] ?? 0) + v;
    o.pickles += alt.pickles;
    o.invoked += alt.invoked;
    if (alt.error !== undefined) o.error = o.error === undefined ? `after the frame ending at ${at}: ${alt.error}` : o.error;
  }
  return s.out;
}

/**
 * After its fifth pickle (the storage keys), a legacy torch.save file holds one record per key:
 * an int64 element count and the raw elements (`_write_file`). Anything after them is scanned as
 * further pickles; a record that cannot be followed is an error, not a reason to stop looking.
 */
async function skipLegacyStorages(s: PickleStream, keys: PV): Promise<void> {
  if (keys.t !== 'list') throw formatError(F, 'legacy torch.save storage keys are not a list');
  for (const k of keys.items) {
    const dtype = k.t === 'str' ? s.storages.get(k.v) : undefined;
    const size = dtype !== undefined ? ELEMENT_SIZE[dtype] : undefined;
    if (size === undefined) throw formatError(F, `legacy torch.save storage ${k.t === 'str' ? JSON.stringify(k.v) : k.t} has no known element type`);
    const bytes = (await s.int64('legacy storage size')) * size;
    if (!Number.isSafeInteger(bytes)) throw formatError(F, 'legacy storage size is out of range');
    s.skip(bytes);
  }
}

/** Does this look like the start of a pickle with a PROTO opcode (0x80 0x00–0x05)? */
export function looksLikePickle(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x80 && head[1]! <= 5;
}

/** Parameter count and dtype histogram of the tensors a state dict rebuilds. */
export function summarizeTensors(tensors: PickleTensor[]): { parameterCount: number; dtypes: Record<string, number> } {
  let total = 0;
  const dtypes: Record<string, number> = {};
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    total += n;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
  }
  return { parameterCount: total, dtypes };
}
