import { ModelsealError } from '../../errors.js';

/**
 * RFC 7512 `pkcs11:` URIs, as model_signing 1.1 takes them for `pkcs11-key` and
 * `pkcs11-certificate`: path attributes (`;`-separated) pick the token and the key, query
 * attributes (`&`-separated) say how to reach them (module, PIN). Values are percent-decoded;
 * `id` is raw bytes. Attributes the signer cannot honour are refused, never ignored: a selector
 * dropped silently could pick another key.
 */
export interface Pkcs11Uri {
  /** Path attributes: token, object, id (hex), type, slot-id, slot-description, … */
  path: Map<string, string>;
  /** Query attributes: pin-value, pin-source, module-path, module-name. */
  query: Map<string, string>;
}

// RFC 7512 §2.3: pk11-path-attr-name / pk11-query-attr-name, plus vendor `x-` attributes.
const PATH_ATTRIBUTES = new Set([
  'token', 'manufacturer', 'serial', 'model', 'library-manufacturer', 'library-description', 'library-version',
  'object', 'type', 'id', 'slot-description', 'slot-manufacturer', 'slot-id',
]);
const QUERY_ATTRIBUTES = new Set(['pin-source', 'pin-value', 'module-name', 'module-path']);
const OBJECT_TYPES = new Set(['public', 'private', 'cert', 'secret-key', 'data']);
const MAX_URI = 4096;

function bad(message: string): never {
  throw new ModelsealError('USAGE', `PKCS#11 URI: ${message}`);
}

function decode(raw: string, where: string): Buffer {
  // Percent-escapes become bytes; anything else must be a plain printable character.
  if (!/^(?:[^%\s]|%[0-9A-Fa-f]{2})*$/.test(raw)) bad(`${where} has a malformed percent-escape or whitespace`);
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%') {
      out.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(raw[i]!, 'utf8'));
    }
  }
  return Buffer.from(out);
}

function text(raw: string, where: string): string {
  const bytes = decode(raw, where);
  const s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  // PKCS#11 labels are UTF-8 without NULs or control characters (they end up as argv values).
  if (/[\u0000-\u001f\u007f]/.test(s)) bad(`${where} contains control characters`);
  return s;
}

function attributes(part: string, separator: string, allowed: Set<string>, kind: string): Map<string, string> {
  const out = new Map<string, string>();
  if (part === '') return out;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    if (eq <= 0) bad(`${kind} attribute ${JSON.stringify(item)} is not name=value`);
    const name = item.slice(0, eq).toLowerCase();
    if (!allowed.has(name) && !name.startsWith('x-')) bad(`unknown ${kind} attribute ${JSON.stringify(name)}`);
    // RFC 7512 §2.3: an attribute may appear once (except in the query, where we also refuse repeats: one PIN, one module).
    if (out.has(name)) bad(`${kind} attribute ${name} appears twice`);
    const value = item.slice(eq + 1);
    out.set(name, name === 'id' ? decode(value, 'id').toString('hex') : text(value, name));
  }
  return out;
}

export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (uri.length > MAX_URI) bad(`longer than ${MAX_URI} characters`);
  if (!/^pkcs11:/i.test(uri)) bad(`${JSON.stringify(uri.slice(0, 40))} does not start with pkcs11:`);
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const path = attributes(q < 0 ? body : body.slice(0, q), ';', PATH_ATTRIBUTES, 'path');
  const query = attributes(q < 0 ? '' : body.slice(q + 1), '&', QUERY_ATTRIBUTES, 'query');
  const type = path.get('type');
  if (type !== undefined && !OBJECT_TYPES.has(type)) bad(`type=${type} is not one of ${[...OBJECT_TYPES].join(', ')}`);
  if (query.has('pin-value') && query.has('pin-source')) bad('gives both pin-value and pin-source');
  if (path.has('slot-id') && !/^\d+$/.test(path.get('slot-id')!)) bad('slot-id is not a decimal number');
  return { path, query };
}

/** The URI with any PIN removed, for messages and logs. */
export function redactedPkcs11Uri(uri: string): string {
  return uri.replace(/([?&]pin-value=)[^&]*/i, '$1***');
}
