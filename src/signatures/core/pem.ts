import { ModelsealError, type ErrorCode } from '../../errors.js';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Every PEM block in a text. Text around the blocks is skipped: certtool writes a readable dump
 * before the PEM (the golden `signing-key*.pem` files). Blocks with RFC 1421 headers
 * (`Proc-Type:`, OpenSSL's legacy encryption) are rejected rather than misread.
 */
export function pemBlocks(text: string, what: string, code: ErrorCode): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1]!;
    const body = m[2]!;
    if (body.includes(':')) throw new ModelsealError(code, `${what}: PEM block ${label} has headers (legacy encryption is not supported)`);
    const b64 = body.replace(/\s+/g, '');
    if (!B64.test(b64) || b64.length % 4 !== 0) throw new ModelsealError(code, `${what}: PEM block ${label} is not valid base64`);
    out.push({ label, der: Buffer.from(b64, 'base64') });
  }
  return out;
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
