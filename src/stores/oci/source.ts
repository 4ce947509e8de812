import { ModelsealError } from '../../errors.js';
import { forEachLimit } from '../concurrency.js';
import type { IncomingFile, ModelSource, ResolvedSource, SignatureCandidate, SourceEntry } from '../types.js';
import { RegistryClient, type FetchedManifest, type OciClientOptions } from './client.js';
import { describeLayout, manifestConfigAndLayers, needsConfig, classifyFormat, type ModelLayer, type ModelLayout } from './formats.js';
import { MT } from './media-types.js';
import { formatOciReference, parseOciReference, type OciReference } from './reference.js';
import { discoverSignatures, type Discovery } from './signatures.js';
import { expansionLimitBytes, scanTar, uncompressedTar } from './tar.js';
import { Endpoints } from '../mirrors/chain.js';

export type { OciClientOptions } from './client.js';

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Picks the model manifest out of an index: the one whose artifactType names a model format,
 * or the only entry. Anything else is ambiguous and refused rather than guessed.
 */
function pickFromIndex(idx: FetchedManifest): string {
  const ms = Array.isArray(idx.json.manifests) ? (idx.json.manifests as Array<Record<string, unknown>>) : [];
  const models = ms.filter((m) => typeof m.artifactType === 'string' && /model|modelkit/.test(m.artifactType));
  const pick = models.length === 1 ? models[0] : ms.length === 1 ? ms[0] : undefined;
  if (!pick || typeof pick.digest !== 'string') {
    throw new ModelsealError('REGISTRY_PROTOCOL', `index ${idx.digest} holds ${ms.length} manifests and none is unambiguously the model; reference one by digest`);
  }
  return pick.digest;
}

export interface OciSource extends ModelSource {
  readonly reference: OciReference;
  readonly client: RegistryClient;
  /** Available after resolve(). */
  manifest(): FetchedManifest;
  layout(): Promise<ModelLayout>;
  discovery(): Promise<Discovery>;
}

/**
 * A ModelSource over an OCI artefact. The tag is resolved once; every later request names the
 * manifest digest, and every blob is checked against its descriptor while it streams.
 *
 * Listing: raw layers are listed with `sha256` = layer digest (the file's SHA-256), so the
 * pipeline refuses a mismatch before any download. Tar layers are listed member by member with
 * `facts.packed` = the packing; when the format declares the single member (ModelPack file
 * metadata) that is free, otherwise list() streams the layer once (digest- and diffId-checked)
 * to learn the member names. fetch() streams each needed layer once and delivers its wanted
 * members in archive order.
 */
export function createOciSource(ref: string, opts: OciClientOptions): OciSource {
  const reference = parseOciReference(ref);
  const client = new RegistryClient(reference, opts);
  const repo = reference.repository;
  let resolved: { manifest: FetchedManifest; indexDigest?: string } | undefined;
  let layoutP: Promise<ModelLayout> | undefined;
  let discoveryP: Promise<Discovery> | undefined;
  let listing: Promise<SourceEntry[]> | undefined;
  let endpointsP: Promise<Endpoints> | undefined;
  // Mirrors first, origin last (src/stores/mirrors); without mirrors this is the origin alone.
  const endpoints = (): Promise<Endpoints> => (endpointsP ??= Endpoints.create(reference, client, opts));

  const need = (): { manifest: FetchedManifest; indexDigest?: string } => {
    if (!resolved) throw new ModelsealError('INTERNAL', 'OCI source used before resolve()');
    return resolved;
  };

  const layout = (): Promise<ModelLayout> => {
    layoutP ??= (async () => {
      const m = need().manifest;
      const what = `manifest ${m.digest}`;
      const { config } = manifestConfigAndLayers(m.json, what);
      const format = classifyFormat(m.json, config.mediaType);
      const cfgBytes = needsConfig(format) && config.size > 0
        ? (await (await endpoints()).first(config.digest, (e) => e.client.readBlob(e.repo, config, MAX_CONFIG_BYTES))).value
        : undefined;
      return describeLayout(m.json, cfgBytes, what);
    })();
    return layoutP;
  };

  const layerOf = new Map<string, ModelLayer>();
  const capFor = (l: ModelLayer) => ({ compressed: l.desc.size, maxBytes: expansionLimitBytes(l.desc.size, opts.expansion) });

  async function listLayer(l: ModelLayer, out: SourceEntry[]): Promise<void> {
    const facts = { layer: l.desc.digest, mediaType: l.desc.mediaType, packed: l.packing, layerIndex: String(l.index) };
    if (l.packing === 'raw') {
      out.push({ path: l.path, size: l.desc.size, sha256: l.desc.digest.slice('sha256:'.length), facts });
      layerOf.set(l.path, l);
      return;
    }
    if (l.tarFile && l.path) {
      out.push({ path: l.path, size: l.tarFile.size, facts });
      layerOf.set(l.path, l);
      return;
    }
    const members = (await (await endpoints()).first(l.desc.digest, async (e) => {
      const found: SourceEntry[] = [];
      const tar = uncompressedTar(e.client.openBlob(e.repo, l.desc), l.packing, l.desc.digest, l.diffId, capFor(l));
      await scanTar(tar, { layer: l.desc.digest, prefix: l.path }, async (m) => {
        m.stream.resume();
        found.push({ path: m.path, size: m.size, facts });
      });
      return found;
    })).value;
    for (const m of members) {
      out.push(m);
      layerOf.set(m.path, l);
    }
  }

  const source: OciSource = {
    reference,
    client,
    manifest: () => need().manifest,
    layout,
    discovery: () => {
      discoveryP ??= (async () => {
        const lay = await layout().catch((err: unknown) => {
          // An unknown layout must not hide the signatures (inspect still reports them).
          if (err instanceof ModelsealError && err.code === 'REGISTRY_PROTOCOL') return undefined;
          throw err;
        });
        const digest = need().manifest.digest;
        // Signatures come from the origin unless configured otherwise: a mirror (Spegel, say)
        // may not carry them, and one that hides them must not make a signed model look unsigned.
        if (opts.mirrors?.signatures) {
          for (const e of (await endpoints()).mirrors) {
            const d = await discoverSignatures(e.client, e.repo, digest, lay?.signatureLayer).catch(() => undefined);
            if (d?.candidates.some((c) => c.kind === 'oms')) return d;
          }
        }
        return discoverSignatures(client, repo, digest, lay?.signatureLayer);
      })();
      return discoveryP;
    },

    async resolve(): Promise<ResolvedSource> {
      if (resolved) throw new ModelsealError('INTERNAL', 'resolve() called twice');
      const eps = await endpoints();
      // A tag is resolved at the origin only (a mirror could map it to another, validly hashed
      // manifest); a digest is checked against the bytes, so any endpoint may serve it.
      const byDigest = (d: string) => eps.first(d, (e) => e.client.getManifest(e.repo, d)).then((r) => r.value);
      const first = reference.digest ? await byDigest(reference.digest) : await client.getManifest(repo, reference.tag!);
      let manifest = first;
      let indexDigest: string | undefined;
      if (first.mediaType === MT.ociIndex || first.mediaType === MT.dockerList) {
        indexDigest = first.digest;
        manifest = await byDigest(pickFromIndex(first));
      }
      if (manifest.mediaType !== MT.ociManifest && manifest.mediaType !== MT.dockerManifest) {
        throw new ModelsealError('REGISTRY_PROTOCOL', `unsupported manifest type ${manifest.mediaType}`);
      }
      resolved = { manifest, ...(indexDigest ? { indexDigest } : {}) };
      const lay = await layout();
      return {
        reference: ref,
        resolvedDigest: manifest.digest,
        facts: {
          registry: reference.registry,
          repository: repo,
          ...(reference.tag ? { tag: reference.tag } : {}),
          pinned: formatOciReference({ ...reference, tag: undefined, digest: manifest.digest } as OciReference),
          ...(indexDigest ? { indexDigest } : {}),
          mediaType: manifest.mediaType,
          manifestSize: manifest.bytes.length,
          ...(lay.artifactType ? { artifactType: lay.artifactType } : {}),
          configMediaType: lay.configMediaType,
          format: lay.format,
        },
      };
    },

    async signatures(): Promise<SignatureCandidate[]> {
      return (await source.discovery()).candidates;
    },

    list(): Promise<SourceEntry[]> {
      listing ??= (async () => {
        const lay = await layout();
        const out: SourceEntry[] = [];
        for (const l of lay.layers) await listLayer(l, out);
        const seen = new Set<string>();
        for (const e of out) {
          if (seen.has(e.path)) throw new ModelsealError('REGISTRY_PROTOCOL', `artefact delivers ${e.path} from two layers`);
          seen.add(e.path);
        }
        return out;
      })();
      return listing;
    },

    async fetch(wanted, sink, o): Promise<void> {
      await source.list();
      const byLayer = new Map<ModelLayer, Set<string>>();
      for (const w of wanted) {
        const l = layerOf.get(w.path);
        if (!l) throw new ModelsealError('INTERNAL', `fetch asked for ${w.path}, which list() did not return`);
        let s = byLayer.get(l);
        if (!s) byLayer.set(l, (s = new Set()));
        s.add(w.path);
      }
      // Large layers first keeps the parallel lanes busy until the end.
      const jobs = [...byLayer.entries()].sort((a, b) => b[0].desc.size - a[0].desc.size);
      const eps = await endpoints();
      await forEachLimit(jobs, Math.max(1, o.concurrency), async ([l, paths]) => {
        if (o.signal?.aborted) throw new ModelsealError('NETWORK', 'fetch aborted');
        // A raw layer's bytes are the file's: when the caller hashes them against the signature
        // (which planFetch tied to this layer digest), a second SHA-256 here only halves throughput.
        const skipDigest = l.packing === 'raw' && o.callerVerifiesContent === true;
        // Members a failed mirror already delivered were verified by the sink: the next source skips them.
        const done = new Set<string>();
        await eps.first(l.desc.digest, async (e) => {
          const blob = e.client.openBlob(e.repo, l.desc, o.signal, { skipDigest });
          if (l.packing === 'raw') {
            await deliver(sink, { path: l.path, size: l.desc.size, stream: blob });
            eps.delivered(l.path, l.desc.digest, e.label);
            return;
          }
          const tar = uncompressedTar(blob, l.packing, l.desc.digest, l.diffId, capFor(l));
          await scanTar(tar, { layer: l.desc.digest, prefix: l.path }, async (m) => {
            if (!paths.has(m.path) || done.has(m.path)) {
              if (layerOf.get(m.path) !== l) {
                throw new ModelsealError('ARCHIVE_UNSAFE', `tar layer ${l.desc.digest} holds ${m.path}, which it did not declare`);
              }
              m.stream.resume();
              return;
            }
            await deliver(sink, { path: m.path, size: m.size, stream: m.stream });
            done.add(m.path);
            eps.delivered(m.path, l.desc.digest, e.label);
          });
        }, o.signal);
      });
    },

    delivery() {
      return endpointsP ? endpointsP.then((e) => e.delivery()) : Promise.resolve({ files: {}, skipped: [] });
    },

    async close(): Promise<void> {
      if (endpointsP) await (await endpointsP.catch(() => undefined))?.close();
      await client.close();
    },
  };
  return source;
}

/**
 * Runs the sink and, when both the stream and the sink fail, reports the stream's typed error
 * (a digest mismatch seen by us is the real reason the sink's write failed).
 */
async function deliver(sink: (f: IncomingFile) => Promise<void>, f: IncomingFile): Promise<void> {
  let streamErr: unknown;
  f.stream.once('error', (e) => {
    streamErr = e;
  });
  try {
    await sink(f);
  } catch (err) {
    f.stream.destroy();
    if (!(err instanceof ModelsealError) && streamErr instanceof ModelsealError) throw streamErr;
    throw err;
  }
}
