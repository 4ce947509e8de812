import { isModelsealError } from '../../errors.js';
import { isPlainObject, parseStrictJson } from '../../formats/strict-json.js';
import { envelopeError } from './envelope.js';

/**
 * A JSON object from hostile bytes: valid UTF-8, no duplicate keys (one reader must not see a
 * different header than another), bounded nesting.
 */
export function strictJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return envelopeError(`${what} is not UTF-8`);
  }
  let v: unknown;
  try {
    v = parseStrictJson(text, what, 16);
  } catch (err) {
    if (isModelsealError(err)) envelopeError(err.message);
    throw err;
  }
  if (!isPlainObject(v)) envelopeError(`${what} is not a JSON object`);
  return v;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 date-time (JWS header times; `-08:00` offsets occur in real envelopes). */
export function rfc3339(v: unknown, what: string): Date {
  if (typeof v !== 'string' || !RFC3339.test(v)) envelopeError(`${what} is not an RFC 3339 time`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) envelopeError(`${what} ${v} is not a valid time`);
  return d;
}
