import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { RegistryClient, type OciClientOptions } from '../../../src/stores/oci/client.js';
import { parseOciReference } from '../../../src/stores/oci/reference.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { bytes } from '../../helpers/model.js';
import { clientFor, pushArtifact, sha256 } from './helpers.js';
import { startFaultProxy } from './proxy.js';

const PART = 256 * 1024;
// Small thresholds so a 3 MiB blob takes the parallel-range path.
const RANGED: OciClientOptions = { rangedMinBytes: 1024 * 1024, rangePartSize: PART, rangeSlots: 3 };

describe('large blobs as parallel byte ranges, from a real registry', () => {
  let reg: RegistryServer;
  const blob = bytes(3 * 1024 * 1024 + 123, 42);
  const digest = `sha256:${sha256(blob)}`;
  const desc = { digest, size: blob.length };

  beforeAll(async () => {
    reg = await startRegistry();
    await pushArtifact(`oci://${reg.host}/ranged/m:v1`, await clientFor(reg), {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: Buffer.from('{}') },
      layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw', bytes: blob, annotations: { 'org.cncf.model.filepath': 'w.bin' } }],
    });
  });
  afterAll(async () => reg?.stop());

  async function read(host: string, extra: OciClientOptions = {}): Promise<Buffer> {
    const c = new RegistryClient(parseOciReference(`oci://${host}/ranged/m:v1`), await clientFor(reg, { ...RANGED, ...extra }));
    try {
      const chunks: Buffer[] = [];
      for await (const b of c.openBlob('ranged/m', desc)) chunks.push(b as Buffer);
      return Buffer.concat(chunks);
    } finally {
      await c.close();
    }
  }

  it('fetches every part (in parallel, within the slots) and yields the bytes in order', async () => {
    const proxy = await startFaultProxy({ upstream: reg.url('') });
    try {
      expect(sha256(await read(proxy.host))).toBe(sha256(blob));
      const ranges = proxy.blobRequests.map((r) => r.range);
      const parts = Math.ceil(blob.length / PART);
      expect(ranges).toHaveLength(parts);
      expect(ranges[0]).toBe(`bytes=0-${PART - 1}`);
      expect(new Set(ranges)).toContain(`bytes=${(parts - 1) * PART}-${blob.length - 1}`);
      expect(proxy.blobRequests.every((r) => r.status === 206)).toBe(true);
      // More than one range at once, never more than the client's slots.
      expect(proxy.maxInFlight()).toBeGreaterThan(1);
      expect(proxy.maxInFlight()).toBeLessThanOrEqual(3);
    } finally {
      await proxy.close();
    }
  });

  it('a registry that ignores Range serves the whole blob as one stream', async () => {
    const proxy = await startFaultProxy({ upstream: reg.url(''), stripRange: true });
    try {
      expect(sha256(await read(proxy.host))).toBe(sha256(blob));
      expect(proxy.blobRequests).toHaveLength(1);
      expect(proxy.blobRequests[0]!.status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it('a part cut mid-body resumes from its last byte, and the blob still verifies', async () => {
    const proxy = await startFaultProxy({ upstream: reg.url(''), cutAfter: 100_000, cutRanges: true, cuts: 2 });
    try {
      expect(sha256(await read(proxy.host))).toBe(sha256(blob));
      // Some part was asked again from inside itself (its start + the bytes already received).
      const resumed = proxy.blobRequests.map((r) => /^bytes=(\d+)-/.exec(r.range ?? '')?.[1]).filter((s) => s !== undefined && Number(s) % PART !== 0);
      expect(resumed.length).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('a part that keeps failing gives up with NETWORK after bounded resumes', async () => {
    const proxy = await startFaultProxy({ upstream: reg.url(''), cutAfter: 1000, cutRanges: true, cuts: 1000 });
    try {
      const err = await read(proxy.host, { retries: 2 }).catch((e: unknown) => e);
      expect(isModelsealError(err, 'NETWORK')).toBe(true);
      expect((err as Error).message).toMatch(/gave up after 2 resumes/);
    } finally {
      await proxy.close();
    }
  });

  it('a blob corrupted on the registry disk fails the digest check at the end (DIGEST_MISMATCH)', async () => {
    const p = reg.blobPath(digest);
    const orig = await readFile(p);
    const bad = Buffer.from(orig);
    bad[2 * PART + 5] ^= 0xff;
    await writeFile(p, bad);
    try {
      const err = await read(reg.host).catch((e: unknown) => e);
      expect(isModelsealError(err, 'DIGEST_MISMATCH')).toBe(true);
    } finally {
      await writeFile(p, orig);
    }
  });
});
