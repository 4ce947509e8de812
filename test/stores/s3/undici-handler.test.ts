import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { HttpRequest } from '@smithy/core/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetryable } from '../../../src/stores/s3/errors.js';
import { UndiciHttpHandler } from '../../../src/stores/s3/undici-handler.js';

// The SDK transport against a real HTTP server on loopback: what goes out, what comes back, and
// how a failing connection is reported (the SDK's retry and ours key on Node-style error codes).
let server: http.Server;
let port = 0;
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url!.startsWith('/cut') || req.url!.startsWith('/short')) {
        // Promise 1000 bytes, send 10, then reset the connection (/cut) or close it cleanly (/short).
        res.writeHead(200, { 'content-length': '1000' });
        res.write('x'.repeat(10), () => (req.url!.startsWith('/cut') ? req.socket.resetAndDestroy() : req.socket.end()));
        return;
      }
      if (req.url!.startsWith('/stall')) return; // never answers
      res.setHeader('x-amz-meta-a', ['one', 'two']);
      res.writeHead(206, { 'content-range': 'bytes 0-4/10' });
      res.end('hello');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function req(path: string, extra: Partial<ConstructorParameters<typeof HttpRequest>[0]> = {}): HttpRequest {
  return new HttpRequest({ protocol: 'http:', hostname: '127.0.0.1', port, method: 'GET', path, headers: { host: `127.0.0.1:${port}` }, ...extra });
}

async function text(body: unknown): Promise<string> {
  let s = '';
  for await (const c of body as Readable) s += c;
  return s;
}

describe('UndiciHttpHandler', () => {
  const handler = new UndiciHttpHandler({ connectTimeoutMs: 2000, idleTimeoutMs: 500, connections: 4 });
  afterAll(() => handler.destroy());

  it('sends method, path, query, headers and a streamed body; returns status, flat headers and the body', async () => {
    const body = Readable.from([Buffer.from('part-'), Buffer.from('data')]);
    const { response } = await handler.handle(
      req('/bucket/key', {
        method: 'PUT',
        query: { partNumber: '2', uploadId: 'a b' },
        headers: { host: `127.0.0.1:${port}`, 'content-length': '9', Expect: '100-continue', 'x-amz-date': '20261130T000000Z' },
        body,
      }),
    );
    expect(response.statusCode).toBe(206);
    expect(response.headers['content-range']).toBe('bytes 0-4/10');
    expect(response.headers['x-amz-meta-a']).toBe('one, two');
    expect(await text(response.body)).toBe('hello');
    const s = seen.at(-1)!;
    expect(s).toMatchObject({ method: 'PUT', url: '/bucket/key?partNumber=2&uploadId=a%20b', body: 'part-data' });
    expect(s.headers['x-amz-date']).toBe('20261130T000000Z');
    // undici cannot wait for 100 Continue, so the header is not sent at all.
    expect(s.headers.expect).toBeUndefined();
  });

  // undici names a short body several ways (reset, 'other side closed', length mismatch) by timing.
  it.each(['/cut', '/short'])('reports a body cut short (%s) as a retryable ECONNRESET', async (path) => {
    const { response } = await handler.handle(req(path));
    const err = await text(response.body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    expect(isRetryable(err)).toBe(true);
  });

  it('reports a server that never answers as a retryable TimeoutError', async () => {
    const err = await handler.handle(req('/stall')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    expect(isRetryable(err)).toBe(true);
  });

  it('rejects with an AbortError, never retried, when the caller aborts', async () => {
    const ac = new AbortController();
    const pending = handler.handle(req('/stall'), { abortSignal: ac.signal });
    ac.abort();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(isRetryable(err)).toBe(false);
  });

  it('reports a refused connection as ECONNREFUSED', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await handler.handle(req('/', { port: deadPort })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect(isRetryable(err)).toBe(true);
  });
});
