import { generateKeyPairSync, type KeyObject, type KeyPairKeyObjectResult } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serializeDirectory } from '../../src/model/serialize.js';
import type { Manifest } from '../../src/model/types.js';
import { publish } from '../../src/app/publish.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { freePort, tempDir } from '../harness/process.js';
import { skopeo, startRegistry, type RegistryServer } from '../harness/registry.js';
import { bytes, makeModel } from '../helpers/model.js';

/**
 * The init container's world: a loopback registry holding one model per scenario, the trusted
 * public key in a directory (mounted into the pod), and the references to give MODELSEAL_SOURCE.
 * Shared by the podman end-to-end test and the seccomp trace workload.
 */
export interface InitWorld {
  registry: RegistryServer;
  /** Directory holding `release.pub` (the only trusted key). */
  keysDir: string;
  refs: {
    good: string;
    /** Signed by the release key, then a weights blob overwritten on the registry's disk. */
    tampered: string;
    /** Signed by a key nobody trusts. */
    wrongSigner: string;
    /** The good artefact copied by skopeo without its signature. */
    unsigned: string;
    /** A port nothing listens on. */
    unreachable: string;
    /** A newer release of the good model (other bytes, same signer): a new digest in the pod spec. */
    goodV2: string;
  };
  goodV2Files: Record<string, Buffer>;
  /** The files the good model holds (model-relative path → bytes). */
  goodFiles: Record<string, Buffer>;
  /** The good model as signed: its directory (with `model.sig`), manifest and bundle. */
  good: { dir: string; manifest: Manifest; bundleJson: string };
  stop(): Promise<void>;
}

export function modelFiles(seed: number): Record<string, Buffer> {
  return {
    'config.json': Buffer.from(JSON.stringify({ model_type: 'tiny', seed })),
    'weights.dat': bytes(300_000, seed),
    'tokenizer/vocab.txt': Buffer.from('hello\nworld\n'),
  };
}

export interface Published {
  digest: string;
  layers: Record<string, string>;
  dir: string;
  manifest: Manifest;
  bundleJson: string;
}

export async function publishModel(reg: RegistryServer, files: Record<string, Buffer>, repoTag: string, key: KeyObject): Promise<Published> {
  const dir = await makeModel(files, 'tiny');
  const manifest = await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['model.sig'] });
  const bundleJson = await signManifest(manifest, { kind: 'key', privateKey: key });
  const out = await publish({ dir, dest: `oci://${reg.host}/${repoTag}`, manifest, bundleJson, oci: { plainHttp: true, env: {} } });
  // Raw layers: one per file, digest = the file's SHA-256 (issue 3).
  const layers = Object.fromEntries(manifest.resources.map((r) => [r.name, r.digest]));
  await writeFile(path.join(dir, 'model.sig'), bundleJson);
  return { digest: out.digest!, layers, dir, manifest, bundleJson };
}

/** The trusted release key (its public half as `release.pub` in a pod-mountable directory) and a stranger's. */
export async function signingKeys(prefix: string): Promise<{ release: KeyPairKeyObjectResult; stranger: KeyPairKeyObjectResult; dir: string }> {
  const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dir = await tempDir(prefix);
  await writeFile(path.join(dir, 'release.pub'), release.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  // Mounted into a container that runs as 65532: mkdtemp's 0700 would hide the key.
  await chmod(dir, 0o755);
  return { release, stranger, dir };
}

export async function startInitWorld(): Promise<InitWorld> {
  const registry = await startRegistry();
  try {
    const { release, stranger, dir: keysDir } = await signingKeys('init-keys');

    const goodFiles = modelFiles(1);
    const good = await publishModel(registry, goodFiles, 'models/tiny:v1', release.privateKey);
    // Distinct bytes per scenario: the registry deduplicates blobs, and tampering must not touch `good`.
    const tampered = await publishModel(registry, modelFiles(2), 'models/tampered:v1', release.privateKey);
    const blob = registry.blobPath(`sha256:${tampered.layers['weights.dat']!}`);
    const evil = await readFile(blob);
    evil[1234] = evil[1234]! ^ 0x5a;
    await writeFile(blob, evil);
    await publishModel(registry, modelFiles(3), 'models/wrong-signer:v1', stranger.privateKey);
    const goodV2Files = modelFiles(4);
    await publishModel(registry, goodV2Files, 'models/tiny:v2', release.privateKey);
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry.host}/models/tiny:v1`, `docker://${registry.host}/models/unsigned:v1`]);

    return {
      registry,
      keysDir,
      goodFiles,
      goodV2Files,
      good: { dir: good.dir, manifest: good.manifest, bundleJson: good.bundleJson },
      refs: {
        good: `oci://${registry.host}/models/tiny:v1`,
        tampered: `oci://${registry.host}/models/tampered:v1`,
        wrongSigner: `oci://${registry.host}/models/wrong-signer:v1`,
        unsigned: `oci://${registry.host}/models/unsigned:v1`,
        unreachable: `oci://127.0.0.1:${await freePort()}/models/tiny:v1`,
        goodV2: `oci://${registry.host}/models/tiny:v2`,
      },
      stop: () => registry.stop(),
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** The documented outcome of each scenario (README "Exit codes"). */
export const EXPECTED = {
  good: { exit: 0, outcome: 'allowed' },
  tampered: { exit: 4, outcome: 'blocked' },
  wrongSigner: { exit: 3, outcome: 'blocked' },
  unsigned: { exit: 3, outcome: 'blocked' },
  unreachable: { exit: 7, outcome: 'failed' },
} as const;
