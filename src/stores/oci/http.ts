import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { ModelsealError } from '../../errors.js';

export type ResponseData = Dispatcher.ResponseData;
export type RequestBody = string | Buffer | Uint8Array | Readable | null;

/** Transport settings shared by every request of one client. */
export interface TransportOptions {
  /** PEM bundle added to the system roots (`--ca-file`). */
  caFile?: string;
  caPem?: string;
  /** Idle timeout for headers and between body chunks. */
  timeoutMs?: number;
  /** TCP/TLS connect timeout (hosts.toml `dial_timeout`); undici's default otherwise. */
  connectTimeoutMs?: number;
}

export function createDispatcher(o: TransportOptions): Agent {
  let ca: string[] | undefined;
  if (o.caFile || o.caPem) {
    let pem = o.caPem ?? '';
    if (o.caFile) {
      try {
        pem += readFileSync(o.caFile, 'utf8');
      } catch (err) {
        throw new ModelsealError('CONFIG_INVALID', `cannot read CA file ${o.caFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ModelsealError('CONFIG_INVALID', 'CA bundle holds no PEM certificate');
    // connect.ca replaces the default roots; keep them so a public token realm still verifies.
    ca = [...tls.rootCertificates, pem];
  }
  const timeout = o.timeoutMs ?? 60_000;
  const connect = { ...(ca ? { ca } : {}), ...(o.connectTimeoutMs ? { timeout: o.connectTimeoutMs } : {}) };
  return new Agent({ headersTimeout: timeout, bodyTimeout: timeout, ...(Object.keys(connect).length ? { connect } : {}) });
}

export interface SendOptions {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: RequestBody;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
}

export async function send(o: SendOptions): Promise<ResponseData> {
  try {
    return await request(o.url, {
      method: o.method as Dispatcher.HttpMethod,
      headers: o.headers,
      body: o.body ?? null,
      dispatcher: o.dispatcher,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    throw networkError(err, `${o.method} ${o.url.origin}${o.url.pathname}`);
  }
}

/** Transient failures worth a retry: resets, timeouts, refused connections. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ModelsealError) return err.code === 'NETWORK' && err.details.transient === true;
  return false;
}

export function networkError(err: unknown, what: string): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'AbortError') return new ModelsealError('NETWORK', `${what}: aborted`, { cause: err });
  const code = e?.code ?? e?.cause?.code ?? e?.name ?? 'ERROR';
  // A TLS ClientHello answered with an HTTP response: the registry is plain HTTP (a test or LAN registry).
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(e?.message ?? '')) {
    return new ModelsealError('NETWORK', `${what}: the registry speaks plain HTTP; pass --plain-http if that is intended`, { cause: err, details: { transient: false, errno: code } });
  }
  const tlsProblem = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO/.test(code) || /certificate/i.test(e?.message ?? '');
  return new ModelsealError('NETWORK', `${what}: ${tlsProblem ? 'TLS failure' : 'connection failure'} (${code}: ${(e?.message ?? '').split('\n')[0]})`, {
    cause: err,
    details: { transient: !tlsProblem, errno: code },
  });
}

export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a body fully, refusing more than `cap` bytes (manifests, tokens, bundles). */
export async function readCapped(body: Readable, cap: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      const b = c as Buffer;
      n += b.length;
      if (n > cap) {
        body.destroy();
        throw new ModelsealError('REGISTRY_PROTOCOL', `${what} is larger than the ${cap}-byte limit`, { details: { limit: cap } });
      }
      chunks.push(b);
    }
  } catch (err) {
    throw networkError(err, what);
  }
  return Buffer.concat(chunks, n);
}

export async function discard(res: ResponseData): Promise<void> {
  try {
    await res.body.dump({ limit: 64 * 1024 });
  } catch {
    /* the connection is gone anyway */
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ModelsealError('NETWORK', 'aborted'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new ModelsealError('NETWORK', 'aborted'));
    }, { once: true });
  });
}

/** Exponential backoff with jitter; Retry-After (seconds) honoured up to 30 s. */
export function backoffMs(attempt: number, baseMs: number, retryAfter?: string): number {
  const ra = retryAfter !== undefined ? Number(retryAfter) : NaN;
  if (Number.isFinite(ra) && ra >= 0) return Math.min(ra * 1000, 30_000);
  return Math.min(baseMs * 2 ** attempt, 10_000) * (0.75 + Math.random() * 0.5);
}
