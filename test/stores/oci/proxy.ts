import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of a registry. Blob GETs can be cut after
 * `cutAfter` bytes (the socket is destroyed mid-body), with Range passed through or stripped,
 * or redirected to a second origin that serves the blob from the registry's disk and records
 * whether an Authorization header arrived.
 */
export interface FaultProxy {
  host: string;
  /** Blob requests seen: range header, and (redirect mode) whether the blob origin saw Authorization. */
  blobRequests: Array<{ range?: string; status?: number }>;
  blobOriginAuth: Array<string | undefined>;
  /** Most blob GETs open at the same time. */
  maxInFlight(): number;
  /** Every request path seen (method and URL), for counting what reached the upstream. */
  requests: string[];
  close(): Promise<void>;
}

export interface FaultOptions {
  upstream: string; // e.g. http://127.0.0.1:5000
  cutAfter?: number;
  /** How many blob GETs to cut (default 1). */
  cuts?: number;
  stripRange?: boolean;
  /** Also cut 206 (ranged) answers, not only whole-blob 200s. */
  cutRanges?: boolean;
  /** Answer manifest GETs with a body this large (chunked, no Content-Length). */
  oversizeManifest?: number;
  /** Redirect blob GETs to another origin that reads blobs via this function. */
  redirectTo?: (digest: string) => string;
  /** A hostile mirror: flip one byte in the middle of every blob body of at least this many bytes. */
  corruptBlobsOver?: number;
  /** A stalling mirror: send this many bytes of each blob body larger than that, then nothing (socket kept open). */
  stallAfter?: number;
}

/** Forward the first `n` body bytes of `ures`, stop reading it, then call `then`. */
function sendPrefix(ures: http.IncomingMessage, res: http.ServerResponse, n: number, then: () => void): void {
  let sent = 0;
  ures.on('data', (c: Buffer) => {
    if (sent >= n) return;
    const take = c.subarray(0, n - sent);
    sent += take.length;
    res.write(take);
    if (sent >= n) {
      ures.destroy();
      then();
    }
  });
}

const BLOB_RE = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/;

export async function startFaultProxy(o: FaultOptions): Promise<FaultProxy> {
  const blobRequests: FaultProxy['blobRequests'] = [];
  const requests: string[] = [];
  const blobOriginAuth: Array<string | undefined> = [];
  let cutsLeft = o.cuts ?? 1;
  let inFlight = 0;
  let maxInFlight = 0;
  const up = new URL(o.upstream);
  let blobServer: http.Server | undefined;
  let blobPort = 0;
  if (o.redirectTo) {
    const pathOf = o.redirectTo;
    blobServer = http.createServer((req, res) => {
      blobOriginAuth.push(req.headers.authorization);
      const digest = decodeURIComponent((req.url ?? '').replace(/^\/blob\//, '').split('?')[0]!);
      const rs = createReadStream(pathOf(digest));
      rs.on('error', () => res.writeHead(404).end());
      rs.once('open', () => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        rs.pipe(res);
      });
    });
    await new Promise<void>((r) => blobServer!.listen(0, '127.0.0.1', r));
    blobPort = (blobServer.address() as AddressInfo).port;
  }
  const srv = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = BLOB_RE.exec((req.url ?? '').split('?')[0]!);
    const isBlobGet = req.method === 'GET' && m !== null;
    // Its own entry: parallel ranged GETs finish in any order.
    const entry: FaultProxy['blobRequests'][number] = { ...(req.headers.range ? { range: req.headers.range } : {}) };
    if (isBlobGet) {
      blobRequests.push(entry);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      res.once('close', () => inFlight--);
    }
    if (isBlobGet && o.redirectTo) {
      res.writeHead(307, { location: `http://127.0.0.1:${blobPort}/blob/${encodeURIComponent(m[1]!)}` }).end();
      return;
    }
    if (o.oversizeManifest && req.method === 'GET' && /\/manifests\//.test(req.url ?? '')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let left = o.oversizeManifest;
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { left = 0; });
      pump();
      return;
    }
    const headers = { ...req.headers, host: up.host };
    if (isBlobGet && o.stripRange) delete headers.range;
    const ureq = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (isBlobGet) entry.status = ures.statusCode;
      const length = Number(ures.headers['content-length'] ?? 0);
      if (isBlobGet && o.corruptBlobsOver !== undefined && length >= o.corruptBlobsOver) {
        let seen = 0;
        const flipAt = Math.floor(length / 2);
        ures.on('data', (c: Buffer) => {
          if (flipAt >= seen && flipAt < seen + c.length) {
            c = Buffer.from(c);
            c[flipAt - seen] ^= 0xff;
          }
          seen += c.length;
          res.write(c);
        });
        ures.on('end', () => res.end());
        return;
      }
      // A stall sends the prefix and then nothing, the socket kept open; a cut drops the connection.
      if (isBlobGet && o.stallAfter !== undefined && length > o.stallAfter) {
        sendPrefix(ures, res, o.stallAfter, () => undefined);
        return;
      }
      if (isBlobGet && o.cutAfter !== undefined && cutsLeft > 0 && (ures.statusCode === 200 || (o.cutRanges && ures.statusCode === 206)) && length > o.cutAfter) {
        cutsLeft--;
        // Let the bytes leave, then drop the connection mid-body.
        sendPrefix(ures, res, o.cutAfter, () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      ures.pipe(res);
    });
    ureq.on('error', () => res.destroy());
    req.pipe(ureq);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    blobRequests,
    blobOriginAuth,
    requests,
    maxInFlight: () => maxInFlight,
    close: async () => {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
      if (blobServer) {
        blobServer.closeAllConnections();
        await new Promise<void>((r) => blobServer!.close(() => r()));
      }
    },
  };
}
