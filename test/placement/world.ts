import { generateKeyPairSync } from 'node:crypto';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { tempDir } from '../harness/process.js';
import { startRegistry, type RegistryServer } from '../harness/registry.js';
import { bytes, sha256 } from '../helpers/model.js';
import { publishModel } from '../init/fixtures.js';

/**
 * Two signed models (A and B: same paths, different bytes) in a loopback registry, reachable
 * directly and through a fault proxy; the release public key in a file. For the pod-life tests:
 * restarts, replacement, termination, deadlines, faults.
 */
export interface PodsWorld {
  registry: RegistryServer;
  proxy: FaultProxy;
  publicKey: string;
  /** Direct references; `tampered` is model A re-signed by the release key with one weights byte flipped on the registry's disk. */
  refs: { a: string; b: string; tampered: string };
  /** The same models through the fault proxy. */
  viaProxy: { a: string; b: string };
  files: { a: Record<string, Buffer>; b: Record<string, Buffer> };
  /** Every signed (path → set of sha256) across both models: bytes outside it are unverified. */
  signed: Map<string, Set<string>>;
  stop(): Promise<void>;
}

export function podsModel(seed: number, weightBytes: number): Record<string, Buffer> {
  return {
    'config.json': Buffer.from(JSON.stringify({ model_type: 'pods', seed })),
    'weights.dat': bytes(weightBytes, seed),
    'tokenizer/vocab.txt': Buffer.from(`hello\nworld\n${seed}\n`),
  };
}

export async function startPodsWorld(weightBytes = 2 * 1024 * 1024): Promise<PodsWorld> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: registry.port });
  try {
    const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = await tempDir('pods-keys');
    await chmod(keys, 0o755);
    const publicKey = path.join(keys, 'release.pub');
    await writeFile(publicKey, release.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    const files = { a: podsModel(11, weightBytes), b: podsModel(12, weightBytes) };
    await publishModel(registry, files.a, 'pods/model:a', release.privateKey);
    await publishModel(registry, files.b, 'pods/model:b', release.privateKey);
    const tampered = await publishModel(registry, podsModel(13, 64 * 1024), 'pods/model:tampered', release.privateKey);
    const blob = registry.blobPath(`sha256:${tampered.layers['weights.dat']!}`);
    const evil = await readFile(blob);
    evil[99] = evil[99]! ^ 0x5a;
    await writeFile(blob, evil);
    const signed = new Map<string, Set<string>>();
    for (const m of [files.a, files.b]) for (const [p, b] of Object.entries(m)) signed.set(p, (signed.get(p) ?? new Set()).add(sha256(b)));
    const via = `127.0.0.1:${proxy.port}`;
    return {
      registry,
      proxy,
      publicKey,
      refs: { a: `oci://${registry.host}/pods/model:a`, b: `oci://${registry.host}/pods/model:b`, tampered: `oci://${registry.host}/pods/model:tampered` },
      viaProxy: { a: `oci://${via}/pods/model:a`, b: `oci://${via}/pods/model:b` },
      files,
      signed,
      stop: async () => {
        await proxy.stop();
        await registry.stop();
      },
    };
  } catch (err) {
    await proxy.stop();
    await registry.stop();
    throw err;
  }
}

/** Every visible file under `dir` (hidden `.modelseal-*` entries skipped), model-relative → bytes. */
export async function visibleFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (rel === '' && e.name.startsWith('.modelseal-')) continue;
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path.join(abs, e.name), r);
      else out.set(r, await readFile(path.join(abs, e.name)));
    }
  };
  await walk(dir, '');
  return out;
}

/** Files placed whose bytes no signature covers (must always be empty). */
export function unverifiedBytes(files: Map<string, Buffer>, signed: Map<string, Set<string>>): Array<{ path: string; bytes: number }> {
  const bad: Array<{ path: string; bytes: number }> = [];
  for (const [p, b] of files) if (!signed.get(p)?.has(sha256(b))) bad.push({ path: p, bytes: b.length });
  return bad;
}

/** modelseal's own leftovers in a directory (staging, old models, locks). */
export async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.modelseal-') && n !== '.modelseal-receipt.json');
}

/** Deterministic PRNG (xorshift32) so a failing fault loop can be replayed from its seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}
