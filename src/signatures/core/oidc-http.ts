import { ModelsealError } from '../../errors.js';

const TIMEOUT_MS = 30_000;
/** OIDC answers (a token, a discovery document) are a few KiB; anything far larger is not one. */
const MAX_BODY = 64 * 1024;
const RETRIES = 2;

export interface JsonAnswer {
  status: number;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

/**
 * Credentials (the CI's request token, a device code) go only to https URLs, or to plain http on
 * loopback (a local issuer or a test). Anything else is refused before a byte is sent.
 */
export function credentialUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', `${what} is not a URL`);
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', `${what} must be an https URL (got ${url.protocol}//${url.host})`);
  }
  if (url.username || url.password) throw new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', `${what} must not carry credentials in the URL`);
  return url;
}

/**
 * One JSON request with a bounded body. Connection failures and 5xx are retried, then reported as
 * NETWORK (exit 7); any other status is returned for the caller to judge. Never echoes the body:
 * an error page may quote the request's credentials.
 */
export async function requestJson(url: URL, init: RequestInit, what: string): Promise<JsonAnswer> {
  let lastFailure = '';
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      lastFailure = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
      continue;
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      lastFailure = `HTTP ${res.status}`;
      continue;
    }
    const text = await boundedText(res, what);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }
  throw new ModelsealError('NETWORK', `${what}: request failed after ${RETRIES + 1} attempts (${lastFailure})`);
}

async function boundedText(res: Response, what: string): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY) {
      await reader.cancel().catch(() => undefined);
      throw new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', `${what}: answer larger than ${MAX_BODY} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
