import { readFileSync } from 'node:fs';
import { ModelsealError, oneLine } from '../../errors.js';
import { logger } from '../../log.js';
import { RegistryClient, type OciClientOptions } from '../oci/client.js';
import type { OciReference } from '../oci/reference.js';
import { mirrorsFor } from './resolve.js';
import type { DeliveryReport, MirrorHost } from './types.js';

/** A mirror that sends no byte for this long is skipped for the blob (hosts.toml has no such knob). */
export const DEFAULT_MIRROR_STALL_MS = 15_000;

export interface Endpoint {
  /** `origin`, or the mirror's API root. */
  label: string;
  client: RegistryClient;
  repo: string;
  mirror: boolean;
}

/** Errors after which the next endpoint may still succeed: anything a source can cause. */
function skippable(err: unknown): boolean {
  if (!(err instanceof ModelsealError)) return true; // a raw stream/transport error from the mirror
  return !['INTERNAL', 'USAGE', 'CONFIG_INVALID'].includes(err.code);
}

function mirrorClient(m: MirrorHost, base: OciClientOptions): RegistryClient {
  // Never the origin's explicit credentials: a mirror gets only what the auth files hold for its own host.
  const { credentials: _c, mirrors: _m, endpoint: _e, caFile: _ca, ...rest } = base;
  let caPem = '';
  try {
    for (const f of m.caFiles ?? []) caPem += readFileSync(f, 'utf8');
  } catch (err) {
    throw new ModelsealError('CONFIG_INVALID', `mirror ${m.apiRoot}: cannot read its CA file: ${oneLine(err)}`, { cause: err });
  }
  const stall = base.mirrors?.stallMs ?? DEFAULT_MIRROR_STALL_MS;
  return new RegistryClient(
    { registry: m.registry, apiHost: m.registry },
    {
      ...rest,
      ...(caPem ? { caPem: caPem + (base.caPem ?? '') } : base.caPem ? { caPem: base.caPem } : {}),
      ...(base.caFile && !caPem ? { caFile: base.caFile } : {}),
      plainHttp: m.apiRoot.startsWith('http:'),
      endpoint: { apiRoot: m.apiRoot, ...(m.ns ? { query: { ns: m.ns } } : {}), ...(m.headers ? { headers: m.headers } : {}) },
      // The next source is a better use of time than resuming a mirror that failed.
      retries: 0,
      timeoutMs: Math.min(stall, base.timeoutMs ?? Infinity),
      ...(m.dialTimeoutMs ? { connectTimeoutMs: m.dialTimeoutMs } : {}),
    },
  );
}

/**
 * The ordered endpoints of one pull: each configured mirror, then the origin. Work that can be
 * verified by digest (blobs, a pinned manifest) goes to each in turn until one succeeds; a
 * mirror that fails (wrong bytes, an error, a stall) is skipped for that piece, logged and
 * recorded; the origin's failure is the pull's failure.
 */
export class Endpoints {
  private readonly report: DeliveryReport = { files: {}, skipped: [] };

  private constructor(readonly list: Endpoint[]) {}

  static async create(ref: OciReference, origin: RegistryClient, opts: OciClientOptions): Promise<Endpoints> {
    const hosts = await mirrorsFor(ref, opts.mirrors);
    const list: Endpoint[] = hosts.map((m) => ({ label: m.apiRoot, client: mirrorClient(m, opts), repo: m.repository, mirror: true }));
    if (hosts.length) logger().info({ registry: ref.registry, mirrors: hosts.map((m) => `${m.apiRoot} (${m.from})`) }, 'pulling through mirrors; every byte is verified against the signed digests');
    list.push({ label: 'origin', client: origin, repo: ref.repository, mirror: false });
    return new Endpoints(list);
  }

  get mirrors(): Endpoint[] {
    return this.list.filter((e) => e.mirror);
  }

  /**
   * Run `fn` against each endpoint in order until one succeeds. `what` names the piece (a blob
   * digest) in logs and the receipt. An abort stops at once.
   */
  async first<T>(what: string, fn: (e: Endpoint) => Promise<T>, signal?: AbortSignal): Promise<{ value: T; from: string }> {
    for (const e of this.list) {
      try {
        return { value: await fn(e), from: e.label };
      } catch (err) {
        if (!e.mirror || signal?.aborted || !skippable(err)) throw err;
        const reason = oneLine(err);
        this.report.skipped.push({ blob: what, mirror: e.label, reason });
        logger().warn({ blob: what, mirror: e.label, reason }, 'mirror skipped for this blob; trying the next source');
      }
    }
    throw new ModelsealError('INTERNAL', 'endpoint list without an origin');
  }

  delivered(path: string, blob: string, from: string): void {
    this.report.files[path] = { blob, from };
  }

  delivery(): DeliveryReport {
    return { files: { ...this.report.files }, skipped: [...this.report.skipped] };
  }

  /** Close the mirrors' connections (the origin's client belongs to the source). */
  async close(): Promise<void> {
    await Promise.all(this.mirrors.map((e) => e.client.close()));
  }
}
