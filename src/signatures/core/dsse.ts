/** DSSE pre-authentication encodings (secure-systems-lab/dsse protocol.md, model_signing v0.2 compat). */

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** Standard PAE: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, lengths in bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const head = `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${payload.length} `;
  return Buffer.concat([Buffer.from(head, 'utf8'), payload]);
}

/**
 * model_signing v0.2 formatted the payload `bytes` into a Python f-string, so what it signed was
 * `DSSEV1` (capital V) followed by the payload's `repr()` (trap T10). Only bundles carrying the
 * legacy predicate can have been produced that way.
 */
export function legacyPae(payloadType: string, payload: Uint8Array): Buffer {
  const text = `DSSEV1 ${payloadType.length} ${payloadType} ${payload.length} ${pythonBytesRepr(payload)}`;
  return Buffer.from(text, 'utf8');
}

const BACKSLASH = 0x5c;
const SINGLE = 0x27;
const DOUBLE = 0x22;

/** CPython's `repr(bytes)` (Objects/bytesobject.c, smart quotes), byte for byte. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  const quote = bytes.includes(SINGLE) && !bytes.includes(DOUBLE) ? DOUBLE : SINGLE;
  const q = String.fromCharCode(quote);
  const parts: string[] = ['b', q];
  for (const b of bytes) {
    if (b === quote || b === BACKSLASH) parts.push('\\', String.fromCharCode(b));
    else if (b === 0x09) parts.push('\\t');
    else if (b === 0x0a) parts.push('\\n');
    else if (b === 0x0d) parts.push('\\r');
    else if (b < 0x20 || b >= 0x7f) parts.push(`\\x${b.toString(16).padStart(2, '0')}`);
    else parts.push(String.fromCharCode(b));
  }
  parts.push(q);
  return parts.join('');
}
