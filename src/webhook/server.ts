import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isModelsealError, oneLine } from '../errors.js';
import { logger } from '../log.js';
import { admit, toReview, type Endpoint } from './admit.js';
import type { ModelChecker } from './checker.js';
import type { WebhookConfig } from './config.js';
import { parseAdmissionReview } from './review.js';

/**
 * The HTTPS endpoint the apiserver calls: POST /mutate and /validate (AdmissionReview v1),
 * GET /healthz and /readyz. TLS only (the apiserver refuses plain HTTP webhooks).
 */
export interface WebhookServerOptions {
  certFile: string;
  keyFile: string;
  host: string;
  port: number;
  config: WebhookConfig;
  checker: ModelChecker;
}

/** Pods are small; the apiserver's own request limit is 3 MiB. */
export const MAX_BODY = 3 * 1024 * 1024;

export interface RunningWebhook {
  port: number;
  /** Re-read the certificate and key (cert-manager renews them in place). */
  reloadTls(): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' }).end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<RunningWebhook> {
  const tls = () => ({ cert: readFileSync(o.certFile), key: readFileSync(o.keyFile), minVersion: 'TLSv1.2' as const });
  const server = https.createServer({ ...tls(), requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger().error({ err }, 'webhook request failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (req.method === 'GET' && (url.pathname === '/healthz' || url.pathname === '/readyz')) return send(res, 200, 'ok\n');
    const endpoint: Endpoint | undefined = url.pathname === '/mutate' ? 'mutate' : url.pathname === '/validate' ? 'validate' : undefined;
    if (!endpoint) return send(res, 404, 'not found\n');
    if (req.method !== 'POST') return send(res, 405, 'POST an AdmissionReview\n');
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return send(res, 415, 'Content-Type must be application/json\n');
    const body = await readBody(req);
    if (!body) return send(res, 413, `body larger than ${MAX_BODY} bytes\n`);
    let request;
    try {
      request = parseAdmissionReview(JSON.parse(body.toString('utf8')));
    } catch (err) {
      // No uid to answer to: the apiserver treats a non-200 as a call failure (failurePolicy applies).
      return send(res, 400, `${isModelsealError(err) ? oneLine(err) : 'invalid JSON'}\n`);
    }
    const decision = await admit(request, endpoint, o.checker, o.config);
    send(res, 200, toReview(request, decision));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    reloadTls: () => server.setSecureContext(tls()),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
