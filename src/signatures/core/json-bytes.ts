import { ModelsealError, type ErrorCode } from '../../errors.js';
import { parseStrictJson } from '../../formats/strict-json.js';

/**
 * Hostile JSON bytes: strict UTF-8, no duplicate keys (two readers must never see two documents),
 * bounded depth. Rejections carry the caller's code.
 */
export function parseJsonBytes(bytes: Uint8Array, code: ErrorCode, what: string): { text: string; value: unknown } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelsealError(code, `${what}: not UTF-8 text`);
  }
  try {
    return { text, value: parseStrictJson(text, what) };
  } catch (err) {
    throw new ModelsealError(code, `${what}: not valid JSON (${(err as Error).message}); is it truncated?`);
  }
}
