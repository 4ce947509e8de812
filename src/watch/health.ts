import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelWatch } from './watcher.js';

/**
 * Probes for the native sidecar: /healthz answers while the process runs (a failed check must
 * not make the kubelet restart it into a fresh "ready"); /readyz is 200 only while the model
 * still verifies, and its 503 body says why. /status is the same as JSON, with the pass totals.
 */
export async function startHealthServer(w: ModelWatch, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://watch');
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (url.pathname === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (url.pathname === '/readyz') {
      if (w.state === 'ready') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return void res.writeHead(503, { 'content-type': 'text/plain' }).end(`${w.state}${w.failure ? `: ${w.failure.reason}` : ''}\n`);
    }
    if (url.pathname === '/status') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ state: w.state, failure: w.failure ?? null, passes: w.passes.slice(-10) }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
