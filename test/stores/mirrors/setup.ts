import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { serializeDirectory } from '../../../src/model/serialize.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { publishOci, type PublishResult } from '../../../src/stores/oci/publish.js';
import { startRegistry, type RegistryServer } from '../../harness/registry.js';
import { bytes, makeModel } from '../../helpers/model.js';
import { clientFor } from '../oci/helpers.js';
import { startFaultProxy, type FaultProxy } from '../oci/proxy.js';

/**
 * Two real registries: the origin (behind a counting proxy, so a test sees every request the
 * client sends it) and a Distribution pull-through cache of the origin, the mirror.
 */
export interface Fleet {
  origin: RegistryServer;
  /** What the client talks to as "the origin": counts requests, forwards to `origin`. */
  originFront: FaultProxy;
  mirror: RegistryServer;
  key: { privateKey: KeyObject; publicKey: KeyObject };
  authorities: Authority[];
  stop(): Promise<void>;
}

export async function startFleet(): Promise<Fleet> {
  const origin = await startRegistry();
  const originFront = await startFaultProxy({ upstream: origin.url('') });
  const mirror = await startRegistry({ proxy: origin.url('') });
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    origin, originFront, mirror, key,
    authorities: [{ kind: 'key', name: 'publisher', publicKeys: [key.publicKey] }],
    stop: async () => {
      await mirror.stop();
      await originFront.close();
      await origin.stop();
    },
  };
}

export const WEIGHT = (seed: number) => bytes(400_000, seed);

/** A signed model published to the origin (directly, not through the counting front). */
export async function publishModel(f: Fleet, repo: string, seed: number): Promise<PublishResult & { dir: string; ref: string }> {
  const dir = await makeModel({ 'w.bin': WEIGHT(seed), 'config.json': `{"seed":${seed}}`, 'sub/tok.bin': bytes(50_000, seed + 1) }, repo.replace(/\W/g, '-'));
  const manifest = await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] });
  const bundleJson = await signManifest(manifest, { kind: 'key', privateKey: f.key.privateKey });
  const files = await Promise.all(manifest.resources.map(async (r) => ({ path: r.name, sha256: r.digest, size: (await stat(path.join(dir, r.name))).size })));
  const pub = await publishOci({ dir, ref: `oci://${f.origin.host}/${repo}:v1`, files, bundleJson, client: await clientFor(f.origin) });
  return { ...pub, dir, ref: `oci://${f.originFront.host}/${repo}:v1` };
}

/** Blob GETs for `digest` (or any blob) that reached a proxy. */
export function blobGets(p: FaultProxy, digest?: string): number {
  return p.requests.filter((r) => r.startsWith('GET ') && r.includes('/blobs/') && (!digest || r.includes(digest))).length;
}
