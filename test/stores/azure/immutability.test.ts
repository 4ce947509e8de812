import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immutabilityOf } from '../../../src/stores/azure/blobs.js';
import { createAzureSource } from '../../../src/stores/azure/source.js';

/**
 * Azurite implements no immutability policies or legal holds, so the rules run against a small
 * HTTP server that answers List Blobs and Get Blob Properties with the headers Azure sends for
 * version-level WORM (x-ms-immutability-policy-until-date, x-ms-immutability-policy-mode,
 * x-ms-legal-hold), parsed by the real SDK.
 */
type Hold = { mode?: 'locked' | 'unlocked'; until?: Date; legalHold?: boolean };
const BLOBS: Record<string, Hold> = {
  'locked/w.bin': { mode: 'locked', until: new Date(Date.now() + 86_400_000) },
  'held/w.bin': { legalHold: true },
  'unlocked/w.bin': { mode: 'unlocked', until: new Date(Date.now() + 86_400_000) },
  'expired/w.bin': { mode: 'locked', until: new Date(Date.now() - 86_400_000) },
  'none/w.bin': {},
  'mixed/a.bin': { legalHold: true },
  'mixed/b.bin': {},
};

let server: http.Server;
let endpoint: string;
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    seen.push(`${req.method} ${u.pathname}${u.search}`);
    const [, , container, ...rest] = u.pathname.split('/');
    if (req.method === 'GET' && u.searchParams.get('comp') === 'list' && container === 'models') {
      const prefix = u.searchParams.get('prefix') ?? '';
      const items = Object.keys(BLOBS).filter((n) => n.startsWith(prefix)).map((n) =>
        `<Blob><Name>${n}</Name><Properties><Content-Length>3</Content-Length><Etag>"0x1"</Etag><BlobType>BlockBlob</BlobType></Properties></Blob>`).join('');
      res.writeHead(200, { 'content-type': 'application/xml', 'x-ms-version': '2025-01-05' });
      res.end(`<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${endpoint}" ContainerName="models"><Prefix>${prefix}</Prefix><Blobs>${items}</Blobs><NextMarker /></EnumerationResults>`);
      return;
    }
    const name = decodeURIComponent(rest.join('/'));
    const hold = BLOBS[name];
    if (req.method === 'HEAD' && hold) {
      const h: Record<string, string> = {
        'content-length': '3', etag: '"0x1"', 'x-ms-blob-type': 'BlockBlob', 'last-modified': new Date().toUTCString(),
        'x-ms-version': '2025-01-05', 'x-ms-version-id': '2026-12-04T10:00:00.0000000Z',
      };
      if (hold.mode) h['x-ms-immutability-policy-mode'] = hold.mode;
      if (hold.until) h['x-ms-immutability-policy-until-date'] = hold.until.toUTCString();
      if (hold.legalHold !== undefined) h['x-ms-legal-hold'] = String(hold.legalHold);
      res.writeHead(200, h).end();
      return;
    }
    res.writeHead(404, { 'x-ms-error-code': 'BlobNotFound' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acct`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

// Anonymous access via a SAS-shaped token: the stub checks nothing, the SDK sends no auth header.
const source = (prefix: string, requireImmutability: boolean) =>
  createAzureSource(`az://acct/models/${prefix}`, { endpoint, sasToken: 'sv=2025-01-05&sig=test', requireImmutability, env: {} });

describe('--require-immutability against real Get Blob Properties headers', () => {
  it('accepts a locked, unexpired retention policy and a legal hold; pins the version ID', async () => {
    const a = await source('locked', true).resolve();
    expect(a.facts).toMatchObject({ immutability: 'all', pinning: 'version-id' });
    const s = source('held', true);
    await s.resolve();
    expect((await s.list())[0]!.facts).toMatchObject({ immutability: 'legal-hold', versionId: '2026-12-04T10:00:00.0000000Z' });
  });

  it.each([
    ['unlocked', /unlocked until/],
    ['expired', /w\.bin/],
    ['none', /w\.bin/],
    ['mixed', /b\.bin/],
  ])('refuses %s with IMMUTABILITY_REQUIRED (exit 6) before any download', async (prefix, msg) => {
    const before = seen.filter((l) => l.startsWith('GET') && !l.includes('comp=list')).length;
    await expect(source(prefix, true).resolve()).rejects.toMatchObject({ code: 'IMMUTABILITY_REQUIRED', exitCode: 6, message: expect.stringMatching(msg) });
    expect(seen.filter((l) => l.startsWith('GET') && !l.includes('comp=list')).length).toBe(before);
    // Without the requirement the same listing resolves and records what it saw.
    await expect(source(prefix, false).resolve()).resolves.toBeTruthy();
  });

  it('reads the SDK fields as Azure spells them', () => {
    const now = new Date('2026-12-04T00:00:00Z');
    expect(immutabilityOf({ immutabilityPolicyMode: 'Locked', immutabilityPolicyExpiresOn: new Date('2027-01-01T00:00:00Z') }, now)).toEqual({ text: 'locked until 2027-01-01T00:00:00.000Z', immutable: true });
    expect(immutabilityOf({ immutabilityPolicyMode: 'Unlocked', immutabilityPolicyExpiresOn: new Date('2027-01-01T00:00:00Z') }, now)).toMatchObject({ immutable: false });
    expect(immutabilityOf({ immutabilityPolicyMode: 'Mutable' }, now)).toEqual({ immutable: false });
    expect(immutabilityOf({ legalHold: true, immutabilityPolicyMode: 'Locked', immutabilityPolicyExpiresOn: new Date('2020-01-01T00:00:00Z') }, now)).toEqual({ text: 'legal-hold', immutable: true });
  });
});
