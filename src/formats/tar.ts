import { formatError, type ByteReader } from './reader.js';

/**
 * A tar reader for the pre-zip `torch.save` layout and tarred models. Python's `tarfile` accepts
 * any block whose header checksum is right (ustar, GNU, PAX or plain v7), so that is the test:
 * a magic string would miss v7 archives that `torch.load` still opens.
 */

const F = 'tar';
const BLOCK = 512;
const MAX_MEMBERS = 100_000;
const MAX_META = 1 << 20;

export interface TarMember {
  name: string;
  /** `file`, `dir`, `link` (symlink or hardlink) or `other`. */
  type: 'file' | 'dir' | 'link' | 'other';
  offset: number;
  size: number;
}

function octal(b: Uint8Array, start: number, len: number): number {
  // GNU base-256 for sizes over 8 GiB.
  if (b[start]! & 0x80) {
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = Buffer.from(b.subarray(start, start + len)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

/** Does this 512-byte block carry a valid tar header checksum (as `tarfile` checks it)? */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK) return false;
  const stored = octal(block, 148, 8);
  if (!Number.isFinite(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  // An all-zero block sums to 256 and is the end marker, not a header.
  return unsigned !== 256 && (stored === unsigned || stored === signed);
}

function cstr(b: Uint8Array, start: number, len: number): string {
  const raw = b.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return Buffer.from(nul < 0 ? raw : raw.subarray(0, nul)).toString('utf8');
}

/** PAX records: "<len> key=value\n". */
function paxRecords(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = Number(text.slice(i, sp));
    if (!Number.isSafeInteger(len) || len <= 0 || i + len > text.length) throw formatError(F, 'malformed PAX record');
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

export async function readTarMembers(r: ByteReader): Promise<TarMember[]> {
  const members: TarMember[] = [];
  let pos = 0;
  let pax = new Map<string, string>();
  let longName: string | undefined;
  while (pos + BLOCK <= r.size) {
    const h = await r.read(pos, BLOCK);
    if (h.every((b) => b === 0)) break;
    if (!isTarHeader(h)) throw formatError(F, `bad header checksum at offset ${pos}`);
    const flag = String.fromCharCode(h[156]!);
    let size = octal(h, 124, 12);
    if (pax.has('size')) size = Number(pax.get('size'));
    if (!Number.isSafeInteger(size) || size < 0 || pos + BLOCK + size > r.size) throw formatError(F, `member at offset ${pos} has a size that passes the end of the archive`);
    const dataAt = pos + BLOCK;
    const next = dataAt + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L') {
      if (size > MAX_META) throw formatError(F, `extended header of ${size} bytes at offset ${pos}`);
      const text = Buffer.from(await r.read(dataAt, size)).toString('utf8');
      if (flag === 'x') pax = paxRecords(text);
      else if (flag === 'L') longName = text.replace(/\0+$/, '');
      pos = next;
      continue;
    }
    const prefix = h[257] === 0x75 /* "ustar" */ ? cstr(h, 345, 155) : '';
    const name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '1' || flag === '2' ? 'link' : 'other';
    members.push({ name, type, offset: dataAt, size });
    if (members.length > MAX_MEMBERS) throw formatError(F, `more than ${MAX_MEMBERS} members`);
    pax = new Map();
    longName = undefined;
    pos = next;
  }
  return members;
}
