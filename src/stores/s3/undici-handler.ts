import { buildQueryString, HttpResponse, type HttpHandler } from '@smithy/core/protocols';
import type { HttpRequest } from '@smithy/core/transport';
import type { HttpHandlerOptions } from '@smithy/types';
import { Agent, type Dispatcher } from 'undici';

export interface UndiciHandlerOptions {
  connectTimeoutMs: number;
  /** Idle timeout for response headers and between body chunks. */
  idleTimeoutMs: number;
  /** Most sockets per origin. */
  connections: number;
}

/** undici reports these where Node's http reports the codes the SDK's retry strategy knows. */
const AS_NODE_CODE: Record<string, string> = {
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_CLOSED: 'ECONNRESET',
  // The connection closed before Content-Length bytes: a cut body, resumed like a reset.
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'ECONNRESET',
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
};

/**
 * The AWS SDK's transport, over undici instead of `node:http`. The SDK still resolves endpoints,
 * signs (SigV4) and retries; this only moves bytes. Measured on a 2 GiB pull: `node:http`
 * allocates every socket read separately and the fragments stay in the malloc heap (~9 MiB per
 * parallel GET); undici's reads add ~1 MiB each, which keeps a pull under the 150 MiB budget.
 */
export class UndiciHttpHandler implements HttpHandler<UndiciHandlerOptions> {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  private readonly agent: Agent;

  constructor(private readonly options: UndiciHandlerOptions) {
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
      connections: options.connections,
    });
  }

  async handle(request: HttpRequest, { abortSignal }: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const query = request.query ? buildQueryString(request.query) : '';
    const port = request.port ? `:${request.port}` : '';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) {
      // undici refuses `Expect` (it never waits for 100 Continue); the body is simply sent.
      if (k.toLowerCase() !== 'expect') headers[k] = v;
    }
    try {
      const res = await this.agent.request({
        origin: `${request.protocol}//${request.hostname}${port}`,
        path: `${request.path}${query ? `?${query}` : ''}`,
        method: request.method as Dispatcher.HttpMethod,
        headers,
        body: (request.body ?? null) as Dispatcher.DispatchOptions['body'],
        ...(abortSignal ? { signal: abortSignal as AbortSignal } : {}),
      });
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
      // Body errors surface later, while the caller reads; give them the same codes.
      res.body.on('error', asNodeError);
      return { response: new HttpResponse({ statusCode: res.statusCode, headers: flat, body: res.body }) };
    } catch (err) {
      throw asNodeError(err);
    }
  }

  updateHttpClientConfig(): void {
    // Settings are fixed at construction; the SDK never changes them for S3.
  }

  httpHandlerConfigs(): UndiciHandlerOptions {
    return this.options;
  }

  destroy(): void {
    void this.agent.destroy().catch(() => undefined);
  }
}

function asNodeError(err: unknown): unknown {
  const e = err as { code?: string; name?: string } | null;
  const code = e?.code !== undefined ? AS_NODE_CODE[e.code] : undefined;
  if (code !== undefined) {
    Object.assign(e!, { code, undiciCode: e!.code });
    if (code === 'ETIMEDOUT') Object.assign(e!, { name: 'TimeoutError' });
  }
  return err;
}
