import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { ModelsealError } from '../../errors.js';
import { parseStrictJson } from '../../formats/strict-json.js';
import { basicHeader, parseChallenge, parseTokenResponse, TokenCache, type Challenge } from './auth.js';
import { lookupCredentials, type RegistryCredential } from './credentials.js';
import {
  backoffMs, createDispatcher, discard, header, isTransient, networkError, readCapped, send, sleep,
  type RequestBody, type ResponseData,
} from './http.js';
import { MANIFEST_ACCEPT, MT } from './media-types.js';
import type { OciReference } from './reference.js';
import { isDigest } from './reference.js';
import { Semaphore } from '../concurrency.js';
import { rangedChunks } from './ranged.js';

/** Everything a caller (CLI flags, policy, tests) can set on the registry client. */
export interface OciClientOptions {
  /** `--registry-auth-file`. */
  authFile?: string;
  /** Explicit credentials; skip config files and helpers. */
  credentials?: RegistryCredential;
  /** Allow `http://` (`--plain-http`); never a silent fallback from HTTPS. */
  plainHttp?: boolean;
  /** PEM bundle trusted in addition to the system roots (`--ca-file`). */
  caFile?: string;
  caPem?: string;
  /** Environment for credential discovery (REGISTRY_AUTH_FILE, DOCKER_CONFIG). */
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Directory of a mounted `.dockerconfigjson` Secret. */
  mountedSecretDir?: string;
  /** Attempts after the first for 429/5xx/resets, and resumes of a cut blob stream. Default 4. */
  retries?: number;
  retryBaseMs?: number;
  /** Idle timeout: no header or body byte for this long fails the request (default 60 s). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Manifest size ceiling, default 4 MiB (oras-go and registry 2.8.2 limit). */
  maxManifestBytes?: number;
  /** Files above this size are uploaded in PATCH chunks. Default 64 MiB. */
  monolithicLimit?: number;
  chunkSize?: number;
  userAgent?: string;
  /**
   * Blobs at least this large download as parallel byte ranges (default 0 = never). Off by
   * default: on a fast registry one stream is quicker and lighter (measured on loopback: 2 GiB in
   * 3.9 s / 100 MiB RSS as one stream, 6.2 s / 160 MiB as 4 × 8 MiB ranges); it pays off where a
   * CDN or proxy caps each connection.
   */
  rangedMinBytes?: number;
  /** Size of each range (default 8 MiB). */
  rangePartSize?: number;
  /** Ranges in flight across the whole client, and so the most buffered: slots × part size (default 4). */
  rangeSlots?: number;
  /** How far a gzip/zstd tar layer may expand (default 250×, at least 256 MiB); see tar.ts. */
  expansion?: { ratio: number; floor: number };
  /**
   * Where the API lives when it is not `<scheme>://<apiHost>/v2` (a mirror: containerd's
   * `[host."https://m/prefix"]` maps to `https://m/prefix/v2`, `override_path` to the path as is).
   */
  endpoint?: ClientEndpoint;
  /** Registry mirrors for pulls (src/stores/mirrors); blobs come from them first, per blob. */
  mirrors?: import('../mirrors/types.js').MirrorSettings;
}

/** A registry API root other than the reference's own host (mirrors). */
export interface ClientEndpoint {
  /** Absolute URL that replaces `/v2` (no trailing slash), e.g. `http://127.0.0.1:5001/v2`. */
  apiRoot: string;
  /** Query parameters added to every request (containerd's `ns=<upstream host>`). */
  query?: Record<string, string>;
  /** Extra request headers (hosts.toml `[host.….header]`). */
  headers?: Record<string, string>;
}

export const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;
export const DEFAULT_RANGE_PART = 8 * 1024 * 1024;
export const DEFAULT_RANGE_SLOTS = 4;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface FetchedManifest {
  /** Raw bytes exactly as served: the digest is over these, never a re-serialisation. */
  bytes: Buffer;
  digest: string;
  mediaType: string;
  json: Record<string, unknown>;
  etag?: string;
}

type Action = 'pull' | 'push,pull';

export function sha256Digest(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function registryError(status: number, body: string, what: string): ModelsealError {
  let detail = '';
  try {
    const j = JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> };
    const e = j.errors?.[0];
    if (e) detail = `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`;
  } catch {
    detail = body.slice(0, 120).replace(/\s+/g, ' ').trim();
  }
  const msg = `${what}: HTTP ${status}${detail ? ` (${detail})` : ''}`;
  if (status === 404) return new ModelsealError('NOT_FOUND', msg, { details: { status } });
  if (status === 401 || status === 403) return new ModelsealError('AUTH_FAILED', msg, { details: { status } });
  return new ModelsealError('REGISTRY_PROTOCOL', msg, { details: { status } });
}

export async function failFrom(res: ResponseData, what: string): Promise<never> {
  let body = '';
  try {
    body = (await readCapped(res.body, 64 * 1024, what)).toString('utf8');
  } catch {
    /* status alone is enough */
  }
  throw registryError(res.statusCode, body, what);
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  const d = v as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: descriptor is not an object`);
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: descriptor needs mediaType, digest and a non-negative integer size`);
  }
  if (!isDigest(d.digest)) throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: unsupported digest "${d.digest.slice(0, 80)}" (sha256 only)`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (typeof d.artifactType === 'string') out.artifactType = d.artifactType;
  if (d.annotations && typeof d.annotations === 'object') {
    const ann: Record<string, string> = {};
    for (const [k, val] of Object.entries(d.annotations as Record<string, unknown>)) if (typeof val === 'string') ann[k] = val;
    out.annotations = ann;
  }
  return out;
}

/**
 * A distribution-spec v1.1 client for one registry host. Auth is negotiated per repository and
 * action; `Authorization` is only ever attached to requests for the registry's own origin, so a
 * redirect to blob storage (or anywhere else) never carries it.
 */
export class RegistryClient {
  readonly origin: string;
  private readonly dispatcher: Agent;
  private readonly tokens = new TokenCache();
  private challenge: Challenge | undefined;
  private creds: Promise<RegistryCredential | undefined> | undefined;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly maxManifest: number;
  private readonly rangeSlots: Semaphore;

  constructor(readonly ref: Pick<OciReference, 'registry' | 'apiHost'>, readonly opts: OciClientOptions = {}) {
    this.origin = opts.endpoint ? new URL(opts.endpoint.apiRoot).origin : `${opts.plainHttp ? 'http' : 'https'}://${ref.apiHost}`;
    this.dispatcher = createDispatcher({
      ...(opts.caFile ? { caFile: opts.caFile } : {}),
      ...(opts.caPem ? { caPem: opts.caPem } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    });
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 250;
    this.maxManifest = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.rangeSlots = new Semaphore(Math.max(1, opts.rangeSlots ?? DEFAULT_RANGE_SLOTS));
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }

  url(path: string): URL {
    const e = this.opts.endpoint;
    if (!e) return new URL(path, this.origin);
    const u = new URL(path.startsWith('/v2/') ? e.apiRoot + path.slice('/v2'.length) : new URL(path, this.origin).href);
    for (const [k, v] of Object.entries(e.query ?? {})) u.searchParams.set(k, v);
    return u;
  }

  private credentials(): Promise<RegistryCredential | undefined> {
    this.creds ??= this.opts.credentials
      ? Promise.resolve(this.opts.credentials)
      : lookupCredentials(this.ref.registry, {
          ...(this.opts.authFile ? { authFile: this.opts.authFile } : {}),
          ...(this.opts.env ? { env: this.opts.env } : {}),
          ...(this.opts.homeDir ? { homeDir: this.opts.homeDir } : {}),
          ...(this.opts.mountedSecretDir ? { mountedSecretDir: this.opts.mountedSecretDir } : {}),
        });
    return this.creds;
  }

  private async authorization(repo: string, action: Action): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const cred = await this.credentials();
      return cred ? basicHeader(cred) : undefined;
    }
    const t = this.tokens.get(`${repo}|push,pull`) ?? (action === 'pull' ? this.tokens.get(`${repo}|pull`) : undefined);
    return t ? `Bearer ${t}` : undefined;
  }

  /** Answers a 401: remembers the scheme and, for Bearer, fetches a token for (repo, action). */
  private async authenticate(res: ResponseData, repo: string, action: Action, signal?: AbortSignal): Promise<void> {
    const c = parseChallenge(res.headers['www-authenticate']);
    if (!c) throw new ModelsealError('AUTH_FAILED', `${this.ref.registry}: 401 without a usable WWW-Authenticate challenge`);
    this.challenge = c;
    const cred = await this.credentials();
    if (c.scheme === 'basic') {
      if (!cred || !('password' in cred)) throw new ModelsealError('AUTH_FAILED', `${this.ref.registry} requires a login and no credentials were found`);
      return;
    }
    const realm = c.params.realm;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm ?? '');
    } catch {
      throw new ModelsealError('AUTH_FAILED', `${this.ref.registry}: Bearer challenge has no valid realm`);
    }
    if (realmUrl.protocol !== 'https:' && !(realmUrl.protocol === 'http:' && this.opts.plainHttp)) {
      throw new ModelsealError('AUTH_FAILED', `token realm ${realmUrl.origin} is not HTTPS (allow plain HTTP explicitly to use it)`);
    }
    const scope = `repository:${repo}:${action}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent(), accept: 'application/json' };
    let body: string | undefined;
    let method = 'GET';
    if (cred && 'identityToken' in cred) {
      // OAuth2 refresh-token grant (docker token spec "oauth"); identity tokens are never sent as Basic.
      method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({
        grant_type: 'refresh_token', refresh_token: cred.identityToken, service: c.params.service ?? '', scope, client_id: 'modelseal',
      }).toString();
    } else {
      if (c.params.service) realmUrl.searchParams.set('service', c.params.service);
      realmUrl.searchParams.append('scope', scope);
      const b = cred ? basicHeader(cred) : undefined;
      if (b) headers.authorization = b;
    }
    const tr = await send({ method, url: realmUrl, headers, ...(body ? { body } : {}), dispatcher: this.dispatcher, ...(signal ? { signal } : {}) });
    if (tr.statusCode === 401 || tr.statusCode === 403) {
      await discard(tr);
      throw new ModelsealError('AUTH_FAILED', `token endpoint ${realmUrl.origin} refused the credentials for ${scope} (HTTP ${tr.statusCode})`);
    }
    if (tr.statusCode !== 200) await failFrom(tr, `token endpoint ${realmUrl.origin}`);
    const raw = await readCapped(tr.body, 1024 * 1024, 'token response');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ModelsealError('AUTH_FAILED', 'token endpoint returned invalid JSON');
    }
    const t = parseTokenResponse(parsed);
    this.tokens.set(`${repo}|${action}`, t.token, t.expiresIn);
  }

  private userAgent(): string {
    return this.opts.userAgent ?? 'modelseal/0.1';
  }

  /**
   * One logical request: auth negotiation, manual redirects (GET/HEAD only), bounded retries
   * with backoff on 429/5xx and transient connection failures. `body` is a factory so a retry
   * re-opens a file stream instead of replaying a consumed one. The caller consumes the body.
   */
  async request(o: {
    method: string;
    url: URL;
    repo: string;
    action: Action;
    headers?: Record<string, string>;
    body?: () => RequestBody;
    signal?: AbortSignal;
    /** Retry on 5xx/429 and resets (default true). */
    retry?: boolean;
  }): Promise<ResponseData> {
    const maxAttempts = o.retry === false ? 1 : this.retries + 1;
    for (let attempt = 0; ; attempt++) {
      let res: ResponseData;
      try {
        res = await this.once(o);
      } catch (err) {
        if (attempt + 1 < maxAttempts && isTransient(err)) {
          await sleep(backoffMs(attempt, this.retryBaseMs), o.signal);
          continue;
        }
        throw err;
      }
      if ((res.statusCode === 429 || (res.statusCode >= 500 && res.statusCode !== 501)) && attempt + 1 < maxAttempts) {
        const ra = header(res, 'retry-after');
        await discard(res);
        await sleep(backoffMs(attempt, this.retryBaseMs, ra), o.signal);
        continue;
      }
      return res;
    }
  }

  private async once(o: Parameters<RegistryClient['request']>[0]): Promise<ResponseData> {
    let url = o.url;
    let authRetried = false;
    for (let hop = 0; hop < 8; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent(), ...(this.opts.endpoint?.headers ?? {}), ...(o.headers ?? {}) };
      // The only place Authorization is attached: same origin as the registry, nothing else.
      if (url.origin === this.origin) {
        const a = await this.authorization(o.repo, o.action);
        if (a) headers.authorization = a;
      }
      const res = await send({
        method: o.method, url, headers, ...(o.body ? { body: o.body() } : {}), dispatcher: this.dispatcher, ...(o.signal ? { signal: o.signal } : {}),
      });
      if (res.statusCode === 401 && url.origin === this.origin && !authRetried) {
        authRetried = true;
        await this.authenticate(res, o.repo, o.action, o.signal).finally(() => discard(res));
        continue;
      }
      const loc = header(res, 'location');
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && loc && (o.method === 'GET' || o.method === 'HEAD')) {
        await discard(res);
        const next = new URL(loc, url);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.opts.plainHttp)) {
          throw new ModelsealError('REGISTRY_PROTOCOL', `refusing redirect to ${next.protocol}//${next.host} (plain HTTP not allowed)`);
        }
        url = next;
        continue;
      }
      return res;
    }
    throw new ModelsealError('REGISTRY_PROTOCOL', `too many redirects from ${o.url.pathname}`);
  }

  /** `GET /v2/` — reachability and auth check. */
  async ping(repo: string): Promise<void> {
    const res = await this.request({ method: 'GET', url: this.url('/v2/'), repo, action: 'pull' });
    if (res.statusCode !== 200) await failFrom(res, `${this.ref.registry} /v2/`);
    await discard(res);
  }

  /**
   * Fetches a manifest, capped, with its digest computed over the raw bytes and checked against
   * the requested digest and any Docker-Content-Digest; Content-Type must agree with mediaType.
   */
  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${repo}@${reference}`.replace('@sha256:', '@sha256:');
    const res = await this.request({
      method: 'GET', url: this.url(`/v2/${repo}/manifests/${reference}`), repo, action: 'pull', headers: { accept: MANIFEST_ACCEPT }, ...(signal ? { signal } : {}),
    });
    if (res.statusCode !== 200) await failFrom(res, what);
    const cl = Number(header(res, 'content-length') ?? NaN);
    if (Number.isFinite(cl) && cl > this.maxManifest) {
      res.body.destroy();
      throw new ModelsealError('REGISTRY_PROTOCOL', `${what} is ${cl} bytes, over the ${this.maxManifest}-byte manifest limit`, { details: { limit: this.maxManifest, size: cl } });
    }
    const bytes = await readCapped(res.body, this.maxManifest, what);
    const digest = sha256Digest(bytes);
    if (isDigest(reference) && digest !== reference) {
      throw new ModelsealError('DIGEST_MISMATCH', `${what}: served bytes hash to ${digest}`, { details: { expected: reference, actual: digest } });
    }
    const dcd = header(res, 'docker-content-digest');
    if (dcd && dcd !== digest) {
      throw new ModelsealError('DIGEST_MISMATCH', `${what}: Docker-Content-Digest ${dcd} disagrees with the bytes (${digest})`, { details: { header: dcd, actual: digest } });
    }
    let json: Record<string, unknown>;
    try {
      const parsed = parseStrictJson(bytes.toString('utf8'), 'manifest');
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      json = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    const contentType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    const bodyType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
    if (bodyType && contentType && bodyType !== contentType) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: Content-Type ${contentType} disagrees with mediaType ${bodyType}`);
    }
    const mediaType = bodyType ?? contentType;
    if (mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed || json.schemaVersion === 1) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: Docker schema 1 manifests are not supported`);
    }
    if (json.schemaVersion !== 2) throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: schemaVersion must be 2`);
    const etag = header(res, 'etag');
    return { bytes, digest, mediaType: mediaType || MT.ociManifest, json, ...(etag ? { etag } : {}) };
  }

  /** Manifest by tag, or undefined on 404 (fallback tags, `.sig` tags). */
  async getManifestIfExists(repo: string, reference: string): Promise<FetchedManifest | undefined> {
    try {
      return await this.getManifest(repo, reference);
    } catch (err) {
      if (err instanceof ModelsealError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string, ifMatch?: string): Promise<{ digest: string; subject?: string }> {
    const digest = sha256Digest(bytes);
    const res = await this.request({
      method: 'PUT', url: this.url(`/v2/${repo}/manifests/${reference}`), repo, action: 'push,pull',
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length), ...(ifMatch ? { 'if-match': ifMatch } : {}) },
      body: () => bytes,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200) await failFrom(res, `PUT manifest ${repo}:${reference}`);
    const dcd = header(res, 'docker-content-digest');
    await discard(res);
    if (dcd && dcd !== digest) throw new ModelsealError('DIGEST_MISMATCH', `registry stored manifest as ${dcd}, expected ${digest}`);
    const subject = header(res, 'oci-subject');
    return { digest, ...(subject ? { subject } : {}) };
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.request({ method: 'HEAD', url: this.url(`/v2/${repo}/blobs/${digest}`), repo, action: 'push,pull' });
    await discard(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw registryError(res.statusCode, '', `HEAD blob ${digest}`);
  }

  /**
   * Opens a blob as a stream that is verified against its descriptor: more bytes than `size`
   * fail at once, and the end checks size and sha256. A connection cut mid-body resumes with
   * `Range: bytes=N-` (206 with a matching Content-Range required); a 200 means the server
   * ignored Range and the stream fails cleanly rather than re-serving bytes already delivered.
   */
  openBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, signal?: AbortSignal, o: { skipDigest?: boolean } = {}): Readable {
    if (!isDigest(desc.digest)) throw new ModelsealError('REGISTRY_PROTOCOL', `unsupported blob digest ${desc.digest}`);
    const self = this;
    const what = `blob ${desc.digest}`;
    async function* chunks(): AsyncGenerator<Buffer> {
      const hash = createHash('sha256');
      let received = 0;
      const ranged = await self.rangedSource(repo, desc, signal);
      const body = ranged.kind === 'ranged' ? ranged.chunks : self.resumingBody(repo, desc, ranged.kind === 'whole' ? ranged.res : undefined, signal);
      for await (const b of body) {
        received += b.length;
        if (!o.skipDigest) hash.update(b);
        yield b;
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (received !== desc.size) {
        throw new ModelsealError('SIZE_MISMATCH', `${what}: got ${received} bytes, descriptor says ${desc.size}`, { details: { digest: desc.digest } });
      }
      if (!o.skipDigest && actual !== desc.digest) {
        throw new ModelsealError('DIGEST_MISMATCH', `${what}: registry served bytes hashing to ${actual}`, { details: { expected: desc.digest, actual } });
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  /** The blob as one GET (or the 200 already in hand), resumed with `Range: bytes=N-` after a cut connection. */
  private async *resumingBody(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, first: ResponseData | undefined, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const what = `blob ${desc.digest}`;
    let received = 0;
    let resumes = 0;
    let res = first ?? (await this.blobResponse(repo, desc, 0, signal));
    for (;;) {
      try {
        for await (const c of res.body) {
          const b = c as Buffer;
          received += b.length;
          if (received > desc.size) {
            throw new ModelsealError('SIZE_MISMATCH', `${what}: registry sent more than the declared ${desc.size} bytes`, { details: { digest: desc.digest, size: desc.size } });
          }
          yield b;
        }
        if (received === desc.size) return;
        throw networkError(Object.assign(new Error('body ended early'), { code: 'PREMATURE_END' }), what);
      } catch (err) {
        res.body.destroy();
        if (err instanceof ModelsealError && err.code !== 'NETWORK') throw err;
        if (signal?.aborted) throw networkError(err, what);
        if (received === desc.size) return;
        if (resumes >= this.retries) {
          const why = (err as { code?: string; name?: string } | undefined)?.code ?? (err as Error | undefined)?.name ?? 'error';
          throw new ModelsealError('NETWORK', `${what}: connection cut after ${received} of ${desc.size} bytes (${why}); gave up after ${resumes} resumes`, { cause: err, details: { digest: desc.digest, received } });
        }
        await sleep(backoffMs(resumes, this.retryBaseMs), signal);
        resumes++;
        res = await this.blobResponse(repo, desc, received, signal);
      }
    }
  }

  /**
   * Large blobs: ask for the first range. A 206 means the registry serves ranges, and the blob
   * comes as parallel parts (ranged.ts); a 200 means it ignored Range, and that response is the
   * whole blob, read as one stream. Small blobs (or ranges turned off) go the plain way.
   */
  private async rangedSource(
    repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, signal?: AbortSignal,
  ): Promise<{ kind: 'plain' } | { kind: 'whole'; res: ResponseData } | { kind: 'ranged'; chunks: AsyncGenerator<Buffer> }> {
    const min = this.opts.rangedMinBytes ?? 0;
    if (min <= 0 || desc.size < min) return { kind: 'plain' };
    const partSize = Math.max(64 * 1024, this.opts.rangePartSize ?? DEFAULT_RANGE_PART);
    const what = `blob ${desc.digest}`;
    let first: ResponseData | undefined = await this.rangeResponse(repo, desc, 0, Math.min(desc.size, partSize) - 1, signal, true);
    if (first.statusCode === 200) return { kind: 'whole', res: first };
    const open = async (start: number, end: number, sig: AbortSignal): Promise<AsyncIterable<Uint8Array>> => {
      if (first && start === 0) {
        const r = first;
        first = undefined;
        return r.body;
      }
      return (await this.rangeResponse(repo, desc, start, end, sig, false)).body;
    };
    const parts = rangedChunks({
      open, size: desc.size, partSize, slots: this.rangeSlots, retries: this.retries, what,
      backoff: (attempt, sig) => sleep(backoffMs(attempt, this.retryBaseMs), sig),
    }, signal);
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        yield* parts;
      } finally {
        // A reader that stopped before part 0 was taken must not leave its connection open.
        first?.body.destroy();
        first = undefined;
      }
    }
    return { kind: 'ranged', chunks: chunks() };
  }

  /** GET bytes [start, end]: a 206 with exactly that Content-Range (or, when `allowWhole`, a 200). */
  private async rangeResponse(
    repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, start: number, end: number, signal: AbortSignal | undefined, allowWhole: boolean,
  ): Promise<ResponseData> {
    const what = `blob ${desc.digest}`;
    const res = await this.request({
      method: 'GET', url: this.url(`/v2/${repo}/blobs/${desc.digest}`), repo, action: 'pull',
      headers: { range: `bytes=${start}-${end}` }, ...(signal ? { signal } : {}),
    });
    if (res.statusCode === 200 && allowWhole) return wholeBlob(res, desc, what);
    if (res.statusCode === 200) {
      await discard(res);
      throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: the registry ignored Range for bytes ${start}-${end} after honouring it`);
    }
    if (res.statusCode !== 206) await failFrom(res, `${what} (bytes ${start}-${end})`);
    return exactRange(res, desc, start, end, `${what}: bytes ${start}-${end}`);
  }

  private async blobResponse(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, offset: number, signal?: AbortSignal): Promise<ResponseData> {
    const what = `blob ${desc.digest}`;
    const res = await this.request({
      method: 'GET', url: this.url(`/v2/${repo}/blobs/${desc.digest}`), repo, action: 'pull',
      ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}), ...(signal ? { signal } : {}),
    });
    if (offset === 0) {
      if (res.statusCode !== 200) await failFrom(res, what);
      return wholeBlob(res, desc, what);
    }
    if (res.statusCode === 200) {
      await discard(res);
      throw new ModelsealError('NETWORK', `${what}: connection cut after ${offset} bytes and the server ignored Range, cannot resume`, { details: { digest: desc.digest, received: offset } });
    }
    if (res.statusCode !== 206) await failFrom(res, `${what} (resume at ${offset})`);
    return exactRange(res, desc, offset, desc.size - 1, `${what}: resume at ${offset}`);
  }

  /** Small blobs (configs, bundles, signature payloads), verified and capped. */
  async readBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, cap: number): Promise<Buffer> {
    if (desc.size > cap) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `blob ${desc.digest} is ${desc.size} bytes, over the ${cap}-byte limit`, { details: { limit: cap } });
    }
    const chunks: Buffer[] = [];
    for await (const c of this.openBlob(repo, desc)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Uploads a blob unless present. `open(start, end)` returns a fresh stream over the byte range
   * [start, end] (inclusive) so nothing is buffered and a retry re-opens the file.
   */
  async pushBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, open: (start: number, end: number) => RequestBody): Promise<'exists' | 'uploaded'> {
    if (await this.blobExists(repo, desc.digest)) return 'exists';
    const post = await this.request({
      method: 'POST', url: this.url(`/v2/${repo}/blobs/uploads/`), repo, action: 'push,pull', headers: { 'content-length': '0' },
    });
    if (post.statusCode !== 202) await failFrom(post, `start upload of ${desc.digest}`);
    let location = this.uploadLocation(post);
    const minChunk = Number(header(post, 'oci-chunk-min-length') ?? 0);
    await discard(post);
    const limit = this.opts.monolithicLimit ?? 64 * 1024 * 1024;
    if (desc.size > limit) {
      const chunk = Math.max(this.opts.chunkSize ?? 16 * 1024 * 1024, Number.isFinite(minChunk) ? minChunk : 0);
      for (let start = 0; start < desc.size; start += chunk) {
        const end = Math.min(desc.size, start + chunk) - 1;
        const res = await this.request({
          method: 'PATCH', url: location, repo, action: 'push,pull', retry: false,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}`, 'content-length': String(end - start + 1) },
          body: () => open(start, end),
        });
        if (res.statusCode !== 202) await failFrom(res, `upload chunk ${start}-${end} of ${desc.digest}`);
        location = this.uploadLocation(res);
        await discard(res);
      }
      location.searchParams.set('digest', desc.digest);
      const fin = await this.request({ method: 'PUT', url: location, repo, action: 'push,pull', retry: false, headers: { 'content-length': '0' } });
      if (fin.statusCode !== 201) await failFrom(fin, `finish upload of ${desc.digest}`);
      await discard(fin);
      return 'uploaded';
    }
    location.searchParams.set('digest', desc.digest);
    const put = await this.request({
      method: 'PUT', url: location, repo, action: 'push,pull', retry: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => (desc.size === 0 ? Buffer.alloc(0) : open(0, desc.size - 1)),
    });
    if (put.statusCode !== 201) await failFrom(put, `upload of ${desc.digest}`);
    await discard(put);
    return 'uploaded';
  }

  private uploadLocation(res: ResponseData): URL {
    const loc = header(res, 'location');
    if (!loc) throw new ModelsealError('REGISTRY_PROTOCOL', 'upload response has no Location');
    const u = new URL(loc, this.origin);
    // Upload sessions must stay on the registry: credentials go with them.
    if (u.origin !== this.origin) throw new ModelsealError('REGISTRY_PROTOCOL', `upload Location points to another origin (${u.origin})`);
    return u;
  }

  /**
   * `GET /v2/<name>/referrers/<digest>`: descriptors, following `Link` pages; undefined when the
   * registry has no referrers API (404 — distribution 2.8.2 answers plain text).
   */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
    let url: URL | undefined = this.url(`/v2/${repo}/referrers/${digest}`);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const out: Descriptor[] = [];
    for (let page = 0; url && page < 100; page++) {
      const res = await this.request({ method: 'GET', url, repo, action: 'pull', headers: { accept: MT.ociIndex } });
      if (res.statusCode === 404 && page === 0) {
        await discard(res);
        return undefined;
      }
      if (res.statusCode !== 200) await failFrom(res, `referrers of ${digest}`);
      const ct = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
      const bytes = await readCapped(res.body, this.maxManifest, `referrers of ${digest}`);
      if (ct !== MT.ociIndex) {
        if (page === 0) return undefined; // a proxy's HTML 404 page, or similar: treat as no API
        throw new ModelsealError('REGISTRY_PROTOCOL', `referrers page has Content-Type ${ct}`);
      }
      out.push(...indexDescriptors(bytes, `referrers of ${digest}`));
      const link = header(res, 'link');
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      url = m ? new URL(m[1]!, url) : undefined;
      if (url && url.origin !== this.origin) throw new ModelsealError('REGISTRY_PROTOCOL', 'referrers Link points to another origin');
    }
    return out;
  }
}

export function indexDescriptors(bytes: Buffer, what: string): Descriptor[] {
  let j: { manifests?: unknown };
  try {
    j = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new ModelsealError('REGISTRY_PROTOCOL', `${what}: index is not JSON`);
  }
  if (!Array.isArray(j.manifests)) return [];
  return j.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`));
}

/** A 200 for a whole blob: its Content-Length, when given, must be the descriptor's size. */
function wholeBlob(res: ResponseData, desc: Pick<Descriptor, 'digest' | 'size'>, what: string): ResponseData {
  const cl = header(res, 'content-length');
  if (cl !== undefined && Number(cl) !== desc.size) {
    res.body.destroy();
    throw new ModelsealError('SIZE_MISMATCH', `${what}: Content-Length ${cl} differs from descriptor size ${desc.size}`, { details: { digest: desc.digest } });
  }
  return res;
}

/** A 206 must carry exactly `bytes start-end/size` (or `/*`): anything else could splice in other bytes. */
async function exactRange(res: ResponseData, desc: Pick<Descriptor, 'size'>, start: number, end: number, asked: string): Promise<ResponseData> {
  const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
  if (!cr || Number(cr[1]) !== start || Number(cr[2]) !== end || (cr[3] !== '*' && Number(cr[3]) !== desc.size)) {
    await discard(res);
    throw new ModelsealError('REGISTRY_PROTOCOL', `${asked} answered with Content-Range "${header(res, 'content-range') ?? ''}"`);
  }
  return res;
}
