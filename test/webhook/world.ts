import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RegistryClient, sha256Digest } from '../../src/stores/oci/client.js';
import { MT, PREDICATE } from '../../src/stores/oci/media-types.js';
import { pushBundleReferrer } from '../../src/stores/oci/publish.js';
import { parseOciReference } from '../../src/stores/oci/reference.js';
import { skopeo, startRegistry, type RegistryServer } from '../harness/registry.js';
import { bytes } from '../helpers/model.js';
import { modelFiles, publishModel, signingKeys } from '../init/fixtures.js';

/**
 * The admission webhook's world: a loopback registry holding one model per admission outcome,
 * and a trust directory (policy `default.yaml` + `release.pub`) that both the webhook reads and
 * the pods mount. The policy trusts the release key for `oci://<registry>/models/**` only.
 */
export interface WebhookWorld {
  registry: RegistryServer;
  trustDir: string;
  refs: {
    good: string;
    unsigned: string;
    wrongSigner: string;
    /** A manifest whose weights layer is not what the (genuine, re-attached) signature signs. */
    tamperedManifest: string;
    /** Signed by the release key, in a repository no policy rule matches. */
    noMatch: string;
  };
  goodFiles: Record<string, Buffer>;
  /** Sign and publish other files under `repoTag` with the trusted key (to move a tag). */
  republish(files: Record<string, Buffer>, repoTag: string): Promise<void>;
  digest(ref: string): Promise<string>;
  stop(): Promise<void>;
}

async function tamperManifest(from: string, to: string, bundleJson: string): Promise<void> {
  // The blobs must live in the destination repository: copy the artefact (without its signature) first.
  await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from.slice('oci://'.length)}`, `docker://${to.slice('oci://'.length)}`]);
  const src = parseOciReference(to);
  const client = new RegistryClient(src, { plainHttp: true, env: {} });
  try {
    const m = await client.getManifest(src.repository, src.tag!);
    const evil = bytes(300_000, 99);
    const evilDigest = sha256Digest(evil);
    let old: string | undefined;
    const layers = (m.json.layers as Array<Record<string, unknown>>).map((l) => {
      const title = (l.annotations as Record<string, string> | undefined)?.['org.opencontainers.image.title'];
      if (title !== 'weights.dat') return l;
      old = l.digest as string;
      return { ...l, digest: evilDigest, size: evil.length };
    });
    if (!old) throw new Error('no weights.dat layer to tamper with');
    await client.pushBlob(src.repository, { digest: evilDigest, size: evil.length }, () => evil);
    // A careful attacker also rewrites the config's diffIds, so the manifest is self-consistent.
    const cfgDesc = m.json.config as { digest: string; size: number; mediaType: string };
    const cfg = Buffer.from((await client.readBlob(src.repository, cfgDesc, 1 << 20)).toString('utf8').split(old).join(evilDigest));
    await client.pushBlob(src.repository, { digest: sha256Digest(cfg), size: cfg.length }, () => cfg);
    const bytesOut = Buffer.from(JSON.stringify({ ...m.json, config: { ...cfgDesc, digest: sha256Digest(cfg), size: cfg.length }, layers }));
    const put = await client.putManifest(src.repository, 'v1', bytesOut, MT.ociManifest);
    // The genuine bundle, attached to the altered manifest: the signature verifies, the files do not match.
    await pushBundleReferrer(client, src.repository, { mediaType: MT.ociManifest, digest: put.digest, size: bytesOut.length }, Buffer.from(bundleJson), PREDICATE.omsV1, new Date().toISOString());
  } finally {
    await client.close();
  }
}

export async function startWebhookWorld(): Promise<WebhookWorld> {
  const registry = await startRegistry();
  try {
    const { release, stranger, dir: trustDir } = await signingKeys('webhook-trust');
    await writeFile(
      path.join(trustDir, 'default.yaml'),
      `apiVersion: modelseal/v1\nauthorities:\n  release:\n    key: { publicKey: release.pub }\nmodels:\n  - match: "oci://${registry.host}/models/**"\n    authorities: [release]\n`,
      { mode: 0o644 },
    );
    const goodFiles = modelFiles(11);
    await publishModel(registry, goodFiles, 'models/tiny:v1', release.privateKey);
    await publishModel(registry, modelFiles(12), 'models/wrong-signer:v1', stranger.privateKey);
    const base = await publishModel(registry, modelFiles(13), 'models/tamper-base:v1', release.privateKey);
    await tamperManifest(`oci://${registry.host}/models/tamper-base:v1`, `oci://${registry.host}/models/tampered-manifest:v1`, base.bundleJson);
    await publishModel(registry, modelFiles(14), 'elsewhere/tiny:v1', release.privateKey);
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry.host}/models/tiny:v1`, `docker://${registry.host}/models/unsigned:v1`]);
    return {
      registry,
      trustDir,
      goodFiles,
      refs: {
        good: `oci://${registry.host}/models/tiny:v1`,
        unsigned: `oci://${registry.host}/models/unsigned:v1`,
        wrongSigner: `oci://${registry.host}/models/wrong-signer:v1`,
        tamperedManifest: `oci://${registry.host}/models/tampered-manifest:v1`,
        noMatch: `oci://${registry.host}/elsewhere/tiny:v1`,
      },
      republish: async (files, repoTag) => {
        await publishModel(registry, files, repoTag, release.privateKey);
      },
      digest: async (ref) => {
        const r = parseOciReference(ref);
        const c = new RegistryClient(r, { plainHttp: true, env: {} });
        try {
          return (await c.getManifest(r.repository, r.tag!)).digest;
        } finally {
          await c.close();
        }
      },
      stop: () => registry.stop(),
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
