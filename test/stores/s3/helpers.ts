import { CreateBucketCommand, S3Client, type CreateBucketCommandInput } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { S3Options } from '../../../src/stores/s3/options.js';
import type { ModelSource, SourceEntry } from '../../../src/stores/types.js';
import { tempDir } from '../../harness/process.js';

export interface Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3opts(srv: Server, extra: S3Options = {}): S3Options {
  return {
    endpoint: srv.endpoint,
    region: srv.region,
    forcePathStyle: true,
    credentials: { accessKeyId: srv.accessKeyId, secretAccessKey: srv.secretAccessKey },
    ...extra,
  };
}

export function rawClient(srv: Server): S3Client {
  return new S3Client({
    endpoint: srv.endpoint,
    region: srv.region,
    forcePathStyle: true,
    credentials: { accessKeyId: srv.accessKeyId, secretAccessKey: srv.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createBucket(srv: Server, input: CreateBucketCommandInput): Promise<void> {
  const c = rawClient(srv);
  try {
    await c.send(new CreateBucketCommand(input));
  } finally {
    c.destroy();
  }
}

export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface ModelFixture {
  dir: string;
  files: Array<{ path: string; size: number; sha256: string }>;
  bytes: Map<string, Buffer>;
  cleanup(): Promise<void>;
}

/** Random bytes behind a fixed text head, so content sniffing never takes them for pickle, zip or GGUF. */
function opaque(n: number): Buffer {
  const b = randomBytes(n);
  b.write('MSRAW', 0, 'latin1');
  return b;
}

/**
 * A small multi-file model: a zero-byte file, a nested file, and a 12.5 MiB file that is
 * multipart with 5 MiB upload parts and 13 ranged GETs with 1 MiB download parts.
 */
export async function makeModel(bigSize = 12 * 1024 * 1024 + 512 * 1024 + 7): Promise<ModelFixture> {
  const dir = await tempDir('s3model');
  const content: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"],"hidden_size":8}\n'),
    'empty.bin': Buffer.alloc(0),
    'tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
    'weights/model-00001.dat': opaque(bigSize),
    'weights/small.bin': opaque(300 * 1024 + 3),
  };
  const files = [];
  const bytes = new Map<string, Buffer>();
  for (const [rel, buf] of Object.entries(content)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), buf);
    files.push({ path: rel, size: buf.length, sha256: sha256(buf) });
    bytes.set(rel, buf);
  }
  return { dir, files, bytes, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Drain every fetched stream through SHA-256, as the pipeline's sink would. */
export async function fetchAll(
  source: ModelSource,
  entries: SourceEntry[],
  concurrency = 3,
): Promise<Map<string, { sha256: string; size: number }>> {
  const got = new Map<string, { sha256: string; size: number }>();
  await source.fetch(
    entries,
    async (f) => {
      const h = createHash('sha256');
      let n = 0;
      for await (const c of f.stream) {
        h.update(c as Buffer);
        n += (c as Buffer).length;
      }
      got.set(f.path, { sha256: h.digest('hex'), size: n });
    },
    { concurrency },
  );
  return got;
}

/**
 * A fault-injecting HTTP proxy between the SDK and the store. `plan` decides per request:
 * pass it through, cut the connection after `cutAfter` body bytes, or answer a throttling 503.
 */
export type Fault = { kind: 'pass' } | { kind: 'cut'; cutAfter: number } | { kind: 'throttle' };
export interface FaultProxy {
  endpoint: string;
  requests: Array<{ method: string; url: string; range?: string; fault: Fault['kind'] }>;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, plan: (req: http.IncomingMessage, n: number) => Fault): Promise<FaultProxy> {
  const up = new URL(target);
  const requests: FaultProxy['requests'] = [];
  const server = http.createServer((req, res) => {
    const fault = plan(req, requests.length);
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), fault: fault.kind });
    if (fault.kind === 'throttle') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const fwd = http.request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (fault.kind === 'pass') {
          ur.pipe(res);
          return;
        }
        let sent = 0;
        ur.on('data', (chunk: Buffer) => {
          if (sent >= fault.cutAfter) return;
          const take = Math.min(chunk.length, fault.cutAfter - sent);
          sent += take;
          res.write(chunk.subarray(0, take));
          if (sent >= fault.cutAfter) {
            ur.destroy();
            // Let the partial body reach the client, then drop the connection mid-object.
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        ur.on('end', () => res.end());
      },
    );
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
