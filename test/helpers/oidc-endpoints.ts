import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status: number;
  body: string | Buffer;
  contentType?: string;
}

export interface Endpoint {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** A plain node:http server on 127.0.0.1 answering each request with `answer(req)`; records what it saw. */
export async function serve(answer: (req: SeenRequest, url: string) => Answer): Promise<Endpoint> {
  const seen: SeenRequest[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: SeenRequest = { method: req.method ?? '', url: new URL(req.url ?? '/', base), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const a = answer(r, base);
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) });

/**
 * GitHub Actions' ID token endpoint: GET `<request URL>&audience=…` with `Authorization: bearer
 * <request token>`, answering `{"value": "<jwt>"}`; a wrong bearer gets 401, as on GitHub.
 * `tokenFor(audience)` mints the JWT; returning undefined answers 403 (no id-token permission).
 */
export function githubTokenEndpoint(requestToken: string, tokenFor: (audience: string | null) => string | undefined): Promise<Endpoint> {
  return serve((req) => {
    if (req.method !== 'GET' || req.url.pathname !== '/_apis/distributedtask/token') return json(404, { message: 'not found' });
    if (req.headers.authorization !== `bearer ${requestToken}`) return json(401, { message: 'bad credentials' });
    const token = tokenFor(req.url.searchParams.get('audience'));
    return token === undefined ? json(403, { message: 'id-token permission missing' }) : json(200, { count: 1, value: token });
  });
}

/** The ACTIONS_ID_TOKEN_REQUEST_URL GitHub sets: already has a query, so the client appends `&audience=`. */
export const githubRequestUrl = (base: string): string => `${base}/_apis/distributedtask/token?api-version=2.0`;
