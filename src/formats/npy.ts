import { decodeUtf8, formatError, type ByteReader } from './reader.js';

const F = 'npy';
const MAX_HEADER = 1 << 20;

export interface NpyInfo {
  format: 'npy';
  version: string;
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Object dtype: the payload is a pickle (numpy `allow_pickle`). */
  objectDtype: boolean;
  dataOffset: number;
  elementCount: number;
}

export function isNpy(head: Uint8Array): boolean {
  return head.length >= 6 && head[0] === 0x93 && Buffer.from(head.subarray(1, 6)).toString('latin1') === 'NUMPY';
}

/** Python tuples stay distinguishable from lists: in a descr a tuple is a subarray, a list is fields. */
class PyTuple {
  constructor(readonly items: Lit[]) {}
}
type Lit = string | number | boolean | null | Lit[] | PyTuple | { [k: string]: Lit };

/** Python literal subset that numpy writes in the header (`ast.literal_eval` input). */
function parseLiteral(s: string): Lit {
  let i = 0;
  let depth = 0;
  const fail = (m: string): never => {
    throw formatError(F, `header ${m} at character ${i}`);
  };
  const ws = (): void => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const value = (): Lit => {
    ws();
    const c = s[i];
    if (c === '{' || c === '(' || c === '[') {
      if (++depth > 32) fail('nests too deeply');
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: Lit[] = [];
      const obj: Record<string, Lit> = {};
      for (;;) {
        ws();
        if (s[i] === close) {
          i++;
          break;
        }
        const v = value();
        if (c === '{') {
          ws();
          if (s[i++] !== ':') fail('expected ":"');
          if (typeof v !== 'string') fail('non-string key');
          obj[v as string] = value();
        } else items.push(v);
        ws();
        if (s[i] === ',') i++;
        else if (s[i] !== close) fail(`expected "," or "${close}"`);
      }
      depth--;
      return c === '{' ? obj : c === '(' ? new PyTuple(items) : items;
    }
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const v = s.slice(i + 1, end);
      i = end + 1;
      return v;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(s.slice(i, i + 32));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace(/L$/, ''));
  };
  const v = value();
  ws();
  if (i !== s.length) fail('has trailing characters');
  return v;
}

/**
 * The scalar descrs numpy's own writer emits (`dtype.descr`): byte order, kind, size. Anything
 * else is treated as possibly holding objects, because `numpy.dtype()` accepts many spellings
 * of object ('O', 'object', 'object_', '|O8', 'f4,O', '(2,)O', ...) and an allow-list cannot
 * miss one the way a /O/ match missed 'object'.
 */
const PLAIN_DESCR = /^[<>|=]?([biufcSUV]\d+|b1|[mM]8(\[\d*[a-zA-Z]+\])?)$/;

/** Does loading this descr unpickle (numpy `descr_to_dtype`: str, (descr, shape) or [fields])? */
function hasObject(descr: Lit, depth = 0): boolean {
  if (depth > 32) return true;
  if (typeof descr === 'string') return !PLAIN_DESCR.test(descr);
  if (descr instanceof PyTuple) return descr.items.length !== 2 || hasObject(descr.items[0]!, depth + 1);
  if (Array.isArray(descr)) {
    // [(name, descr) | (name, descr, shape)]; the name may be a (title, name) tuple.
    return descr.length === 0 ? false : descr.some((f) => !(f instanceof PyTuple) || f.items.length < 2 || f.items.length > 3 || hasObject(f.items[1]!, depth + 1));
  }
  return true;
}

export async function parseNpy(r: ByteReader): Promise<NpyInfo> {
  if (r.size < 10) throw formatError(F, 'file too short');
  const head = await r.read(0, 12 > r.size ? 10 : 12);
  if (!isNpy(head)) throw formatError(F, 'bad magic');
  const major = head[6]!;
  const minor = head[7]!;
  let len: number;
  let start: number;
  if (major === 1) {
    len = head[8]! | (head[9]! << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (head.length < 12) throw formatError(F, 'file too short');
    len = new DataView(head.buffer, head.byteOffset + 8, 4).getUint32(0, true);
    start = 12;
  } else throw formatError(F, `unsupported version ${major}.${minor}`);
  if (len > MAX_HEADER || start + len > r.size) throw formatError(F, `header length ${len} is out of range`);
  const bytes = await r.read(start, len);
  const text = major === 3 ? decodeUtf8(bytes, F, 'header') : Buffer.from(bytes).toString('latin1');
  const lit = parseLiteral(text.trim());
  if (lit === null || typeof lit !== 'object' || Array.isArray(lit) || lit instanceof PyTuple) throw formatError(F, 'header is not a dict');
  const { descr, fortran_order: fortran, shape } = lit as Record<string, Lit>;
  if (descr === undefined || typeof fortran !== 'boolean' || !(shape instanceof PyTuple || Array.isArray(shape))) throw formatError(F, 'header lacks descr, fortran_order or shape');
  const raw = shape instanceof PyTuple ? shape.items : shape;
  if (!raw.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) || raw.length > 64) throw formatError(F, 'shape is invalid');
  const dims = raw as number[];
  return {
    format: 'npy', version: `${major}.${minor}`, descr: typeof descr === 'string' ? descr : JSON.stringify(descr, (_k, v: unknown) => (v instanceof PyTuple ? v.items : v)), fortranOrder: fortran,
    shape: dims, objectDtype: hasObject(descr), dataOffset: start + len, elementCount: dims.reduce((a, d) => a * d, 1),
  };
}
