import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { assertSafeRelativePath } from '../../model/names.js';
import { forEachLimit } from '../concurrency.js';
import { indexDescriptors, RegistryClient, sha256Digest, type Descriptor, type OciClientOptions } from './client.js';
import { ANNOTATION, EMPTY_DIGEST, MT, PREDICATE } from './media-types.js';
import { fallbackTag, formatOciReference, parseOciReference } from './reference.js';

export interface PublishFile {
  /** Model-relative POSIX path. */
  path: string;
  size: number;
  /** Lowercase hex SHA-256 of the file (from the signed manifest): the layer digest. */
  sha256: string;
}

/**
 * Produces the Sigstore bundle (JSON text) for a cosign v3-style signature: given the in-toto
 * statement bytes (subject = manifest digest, predicateType `https://sigstore.dev/cosign/sign/v1`),
 * sign them as a DSSE envelope. The signing module supplies it (e.g. signStatement).
 */
export type CosignStatementSigner = (statementJson: Buffer) => Promise<string>;

export interface PublishOptions {
  dir: string;
  ref: string;
  files: PublishFile[];
  /** The OMS bundle (model.sig) over exactly these files. */
  bundleJson: string;
  sbomJson?: string;
  /** The SBOM signed as an in-toto statement (Sigstore bundle), attached as its own referrer. */
  sbomBundleJson?: string;
  client: OciClientOptions;
  cosignSigner?: CosignStatementSigner;
  concurrency?: number;
  /** ModelPack descriptor fields (name defaults to the directory basename). */
  modelName?: string;
}

export interface PublishResult {
  digest: string;
  reference: string;
  /** Digests of the referrer manifests pushed (OMS bundle, cosign, SBOM). */
  referrers: Array<{ kind: 'oms' | 'cosign-bundle' | 'sbom'; digest: string }>;
}

const CONFIG_FILES = /(^|\/)(config\.json|generation_config\.json|tokenizer(_config)?\.json|special_tokens_map\.json|added_tokens\.json|preprocessor_config\.json|vocab\.(json|txt)|merges\.txt|tokenizer\.model|chat_template\.(jinja|json))$/i;
const DOC_FILES = /(^|\/)(readme|license|licence|notice|model_card)[^/]*$|\.md$/i;
const CODE_FILES = /\.(py|sh|ipynb)$/i;

/** ModelPack layer type for a file, always `.raw` so the layer digest is the file's SHA-256. */
export function modelPackLayerType(p: string): string {
  const kind = CONFIG_FILES.test(p) ? 'weight.config' : DOC_FILES.test(p) ? 'doc' : CODE_FILES.test(p) ? 'code' : 'weight';
  return `application/vnd.cncf.model.${kind}.v1.raw`;
}

function sbomType(json: string): string {
  try {
    const j = JSON.parse(json) as Record<string, unknown>;
    if (j.bomFormat === 'CycloneDX') return MT.cyclonedx;
    if (typeof j.spdxVersion === 'string' || j['@context'] !== undefined) return MT.spdx;
  } catch {
    /* below */
  }
  throw new ModelsealError('SBOM_INVALID', 'SBOM is neither CycloneDX nor SPDX JSON');
}

/**
 * Pushes a ModelPack artefact (one raw layer per file, streamed from disk, existing blobs
 * skipped), then the OMS bundle as a referrer (plus the fallback-tag index for registries
 * without the referrers API), an optional cosign-style bundle over the manifest digest, and an
 * optional SBOM referrer.
 */
export async function publishOci(opts: PublishOptions): Promise<PublishResult> {
  const ref = parseOciReference(opts.ref);
  if (ref.digest) throw new ModelsealError('USAGE', 'publish needs a tag, not a digest: the digest is what publishing produces');
  const client = new RegistryClient(ref, opts.client);
  const repo = ref.repository;
  try {
    const files = [...opts.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const layers: Descriptor[] = [];
    for (const f of files) {
      assertSafeRelativePath(f.path, 'published file');
      if (!/^[a-f0-9]{64}$/.test(f.sha256)) throw new ModelsealError('USAGE', `${f.path}: sha256 must be 64 lowercase hex`);
      const st = await stat(path.join(opts.dir, f.path));
      if (!st.isFile() || st.size !== f.size) {
        throw new ModelsealError('SIZE_MISMATCH', `${f.path} is ${st.size} bytes on disk, ${f.size} were signed`);
      }
      layers.push({
        mediaType: modelPackLayerType(f.path),
        digest: `sha256:${f.sha256}`,
        size: f.size,
        annotations: {
          [ANNOTATION.cncfFilepath]: f.path,
          [ANNOTATION.title]: f.path,
          [ANNOTATION.cncfUntested]: 'false',
        },
      });
    }
    // Identical files share one blob: upload each digest once.
    const uploads = [...new Map(layers.map((l) => [l.digest, l])).values()];
    await forEachLimit(uploads, opts.concurrency ?? 4, async (l) => {
      const file = path.join(opts.dir, l.annotations![ANNOTATION.cncfFilepath]!);
      // The registry hashes what it receives and refuses the PUT if it is not `digest`.
      await client.pushBlob(repo, l, (start, end) => createReadStream(file, { start, end, highWaterMark: 1 << 20 }));
    });

    const now = new Date().toISOString();
    const configJson = Buffer.from(JSON.stringify({
      descriptor: { createdAt: now, name: opts.modelName ?? path.basename(path.resolve(opts.dir)) },
      config: {},
      modelfs: { type: 'layers', diffIds: layers.map((l) => l.digest) },
    }));
    const config: Descriptor = { mediaType: MT.modelConfig, digest: sha256Digest(configJson), size: configJson.length };
    await client.pushBlob(repo, config, () => configJson);

    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: MT.modelManifest,
      config,
      layers,
      annotations: { [ANNOTATION.created]: now },
    }));
    const { digest } = await client.putManifest(repo, ref.tag!, manifest, MT.ociManifest);
    const subject: Descriptor = { mediaType: MT.ociManifest, digest, size: manifest.length };

    const referrers: PublishResult['referrers'] = [];
    const oms = await pushBundleReferrer(client, repo, subject, Buffer.from(opts.bundleJson), PREDICATE.omsV1, now);
    referrers.push({ kind: 'oms', digest: oms });
    if (opts.cosignSigner) {
      const statement = Buffer.from(JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ digest: { sha256: digest.slice('sha256:'.length) } }],
        predicateType: PREDICATE.cosignSign,
        predicate: {},
      }));
      const bundle = await opts.cosignSigner(statement);
      referrers.push({ kind: 'cosign-bundle', digest: await pushBundleReferrer(client, repo, subject, Buffer.from(bundle), PREDICATE.cosignSign, now) });
    }
    if (opts.sbomJson !== undefined) {
      const type = sbomType(opts.sbomJson);
      referrers.push({ kind: 'sbom', digest: await pushReferrer(client, repo, subject, Buffer.from(opts.sbomJson), type, type, {}, now) });
    }
    if (opts.sbomBundleJson !== undefined) {
      const predicate = sbomType(opts.sbomJson ?? '{}') === MT.spdx ? PREDICATE.spdx : PREDICATE.cyclonedx;
      referrers.push({ kind: 'sbom', digest: await pushBundleReferrer(client, repo, subject, Buffer.from(opts.sbomBundleJson), predicate, now) });
    }
    return { digest, reference: formatOciReference({ ...ref, digest }), referrers };
  } finally {
    await client.close();
  }
}

/** A Sigstore bundle as a referrer of `subject` (with the fallback tag when the registry needs it). */
export async function pushBundleReferrer(client: RegistryClient, repo: string, subject: Descriptor, bundle: Buffer, predicateType: string, now: string): Promise<string> {
  return pushReferrer(client, repo, subject, bundle, MT.sigstoreBundle, MT.sigstoreBundle, {
    [ANNOTATION.bundleContent]: 'dsse-envelope',
    [ANNOTATION.bundlePredicate]: predicateType,
  }, now);
}

/** One-layer artefact with `subject` (cosign v3 layout, signing-formats.md §2.2), by digest. */
async function pushReferrer(
  client: RegistryClient, repo: string, subject: Descriptor, content: Buffer, artifactType: string, layerType: string,
  annotations: Record<string, string>, now: string,
): Promise<string> {
  const empty = Buffer.from('{}');
  await client.pushBlob(repo, { digest: EMPTY_DIGEST, size: 2 }, () => empty);
  const layer: Descriptor = { mediaType: layerType, digest: sha256Digest(content), size: content.length };
  await client.pushBlob(repo, layer, () => content);
  const allAnnotations = { [ANNOTATION.created]: now, ...annotations };
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType,
    config: { mediaType: MT.empty, digest: EMPTY_DIGEST, size: 2 },
    layers: [layer],
    subject,
    annotations: allAnnotations,
  }));
  const digest = sha256Digest(bytes);
  const put = await client.putManifest(repo, digest, bytes, MT.ociManifest);
  // OCI-Subject means the registry indexes referrers itself; otherwise keep the fallback tag current.
  if (put.subject !== subject.digest) {
    await addToFallbackIndex(client, repo, subject.digest, { mediaType: MT.ociManifest, digest, size: bytes.length, artifactType, annotations: allAnnotations });
  }
  return digest;
}

/** GET, append, PUT the `sha256-<hex>` index (If-Match when the registry gives an ETag). */
export async function addToFallbackIndex(client: RegistryClient, repo: string, subject: string, desc: Descriptor): Promise<void> {
  const tag = fallbackTag(subject);
  const current = await client.getManifestIfExists(repo, tag);
  let manifests: Descriptor[] = [];
  if (current) {
    if (current.mediaType !== MT.ociIndex) throw new ModelsealError('REGISTRY_PROTOCOL', `tag ${tag} exists and is not an OCI index`);
    manifests = indexDescriptors(current.bytes, `fallback tag ${tag}`);
  }
  if (manifests.some((m) => m.digest === desc.digest)) return;
  manifests.push(desc);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }));
  await client.putManifest(repo, tag, bytes, MT.ociIndex, current?.etag);
}
