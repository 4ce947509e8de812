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

type Lit = string | number | boolean | null | Lit[] | { [k: string]: Lit };

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
      return c === '{' ? obj : items;
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

function hasObject(descr: Lit): boolean {
  if (typeof descr === 'string') return /O/.test(descr);
  if (Array.isArray(descr)) return descr.some(hasObject);
  return descr !== null && typeof descr === 'object';
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
  if (lit === null || typeof lit !== 'object' || Array.isArray(lit)) throw formatError(F, 'header is not a dict');
  const { descr, fortran_order: fortran, shape } = lit as Record<string, Lit>;
  if (descr === undefined || typeof fortran !== 'boolean' || !Array.isArray(shape)) throw formatError(F, 'header lacks descr, fortran_order or shape');
  if (!shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) || shape.length > 64) throw formatError(F, 'shape is invalid');
  const dims = shape as number[];
  return {
    format: 'npy', version: `${major}.${minor}`, descr: typeof descr === 'string' ? descr : JSON.stringify(descr), fortranOrder: fortran,
    shape: dims, objectDtype: hasObject(descr), dataOffset: start + len, elementCount: dims.reduce((a, d) => a * d, 1),
  };
}
