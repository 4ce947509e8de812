import { ModelsealError } from '../../errors.js';
import { assertSafeRelativePath } from '../../model/names.js';
import { parseDescriptor, type Descriptor } from './client.js';
import { ANNOTATION, isKitConfig, isModelPackConfig, layerPacking, MT, type Packing } from './media-types.js';

export type ArtifactFormat = 'modelpack' | 'modelpack-cnai' | 'kitops' | 'oras' | 'oci-image';

/** One layer as the model sees it: where its bytes go and how they are packed. */
export interface ModelLayer {
  index: number;
  desc: Descriptor;
  packing: Packing;
  /**
   * Model-relative path the layer declares (annotation or Kitfile): for `raw` the file itself;
   * for tar layers every member must equal it or lie under it. '' = model root (image layers).
   */
  path: string;
  /** Uncompressed digest from the config (ModelPack `diffIds`, KitOps `diffId`, ORAS content digest). */
  diffId?: string;
  /** Declared single regular file inside a tar layer (ModelPack file metadata annotation), with its size. */
  tarFile?: { size: number };
}

export interface ModelLayout {
  format: ArtifactFormat;
  artifactType?: string;
  configMediaType: string;
  layers: ModelLayer[];
  /** An OMS `model.sig` shipped as a layer: a signature, never a model file. */
  signatureLayer?: ModelLayer;
}

const SIGNATURE_FILE = 'model.sig';

function protocol(msg: string): never {
  throw new ModelsealError('REGISTRY_PROTOCOL', msg);
}

export function manifestConfigAndLayers(json: Record<string, unknown>, what: string): { config: Descriptor; layers: Descriptor[] } {
  const config = parseDescriptor(json.config, `${what} config`);
  if (!Array.isArray(json.layers)) protocol(`${what}: layers is not an array`);
  const layers = (json.layers as unknown[]).map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  return { config, layers };
}

export function classifyFormat(json: Record<string, unknown>, configMediaType: string): ArtifactFormat {
  const at = typeof json.artifactType === 'string' ? json.artifactType : '';
  if (configMediaType === MT.modelConfig || at === MT.modelManifest) return 'modelpack';
  if (configMediaType === MT.cnaiModelConfig || at === MT.cnaiModelManifest) return 'modelpack-cnai';
  // KitOps manifests carry neither mediaType nor artifactType: classify by config only.
  if (isKitConfig(configMediaType)) return 'kitops';
  if (configMediaType === MT.ociConfig || configMediaType === 'application/vnd.docker.container.image.v1+json') return 'oci-image';
  return 'oras';
}

/** Whether the config blob is needed to describe the layers (diffIds, Kitfile paths). */
export function needsConfig(format: ArtifactFormat): boolean {
  return format !== 'oras';
}

function parseConfig(bytes: Buffer | undefined): Record<string, unknown> {
  if (!bytes) return {};
  try {
    const j = JSON.parse(bytes.toString('utf8')) as unknown;
    if (j && typeof j === 'object' && !Array.isArray(j)) return j as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  return protocol('artifact config is not a JSON object');
}

function diffIdList(v: unknown, n: number, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== n || !v.every((d) => typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d))) {
    protocol(`${what} lists ${Array.isArray(v) ? v.length : 'no'} valid diffIds for ${n} layers`);
  }
  return v as string[];
}

function fileMetadata(ann: Record<string, string>): { size: number; regular: boolean } | undefined {
  const raw = ann[ANNOTATION.cncfFileMetadata] ?? ann[ANNOTATION.cnaiFileMetadata];
  if (!raw) return undefined;
  try {
    const m = JSON.parse(raw) as { size?: unknown; typeflag?: unknown };
    const regular = m.typeflag === 0 || m.typeflag === '0' || m.typeflag === 48;
    if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0) return undefined;
    return { size: m.size, regular };
  } catch {
    return undefined;
  }
}

function checkPath(p: string, what: string): string {
  const norm = p.replace(/^\.\//, '').replace(/\/+$/, '');
  assertSafeRelativePath(norm, what);
  return norm;
}

/** Kitfile entries (model, model.parts, code, datasets, docs) that name a layer by digest. */
function kitEntries(cfg: Record<string, unknown>): Array<{ path: string; digest?: string; diffId?: string }> {
  const out: Array<{ path: string; digest?: string; diffId?: string }> = [];
  const take = (e: unknown): void => {
    if (!e || typeof e !== 'object') return;
    const o = e as Record<string, unknown>;
    if (typeof o.path === 'string') {
      out.push({
        path: o.path,
        ...(typeof o.digest === 'string' ? { digest: o.digest } : {}),
        ...(typeof o.diffId === 'string' ? { diffId: o.diffId } : {}),
      });
    }
  };
  const model = cfg.model as Record<string, unknown> | undefined;
  take(model);
  if (model && Array.isArray(model.parts)) model.parts.forEach(take);
  for (const k of ['code', 'datasets', 'docs']) if (Array.isArray(cfg[k])) (cfg[k] as unknown[]).forEach(take);
  return out;
}

/**
 * Describes an artefact's layers as model files. Layer paths come from the format's own
 * declarations; a layer without one is refused (we never invent names), except image layers,
 * whose members are rooted at the model root.
 */
export function describeLayout(json: Record<string, unknown>, configBytes: Buffer | undefined, what: string): ModelLayout {
  const { config, layers } = manifestConfigAndLayers(json, what);
  const format = classifyFormat(json, config.mediaType);
  const cfg = needsConfig(format) ? parseConfig(configBytes) : {};
  const out: ModelLayer[] = [];
  let signatureLayer: ModelLayer | undefined;

  let diffIds: string[] | undefined;
  if (format === 'modelpack' || format === 'modelpack-cnai') {
    const fs = (cfg.modelfs ?? {}) as Record<string, unknown>;
    // v0.0.4–v0.0.6 wrote diff_ids; v0.0.7+ diffIds (oci-and-s3.md §1.1).
    diffIds = diffIdList(fs.diffIds ?? fs.diff_ids, layers.length, `${what} config modelfs`);
  } else if (format === 'oci-image') {
    const rootfs = (cfg.rootfs ?? {}) as Record<string, unknown>;
    diffIds = diffIdList(rootfs.diff_ids, layers.length, `${what} config rootfs`);
  }
  const kit = format === 'kitops' ? kitEntries(cfg) : [];
  if (format === 'kitops') {
    for (const k of kit) {
      if (k.digest && !layers.some((l) => l.digest === k.digest)) {
        throw new ModelsealError('DIGEST_MISMATCH', `${what}: Kitfile entry ${k.path} names layer ${k.digest}, which the manifest does not hold`);
      }
    }
  }

  layers.forEach((desc, index) => {
    const ann = desc.annotations ?? {};
    let packing = layerPacking(desc.mediaType);
    let path: string | undefined;
    let diffId = diffIds?.[index];
    let tarFile: ModelLayer['tarFile'];
    switch (format) {
      case 'modelpack':
      case 'modelpack-cnai': {
        path = ann[ANNOTATION.cncfFilepath] ?? ann[ANNOTATION.cnaiFilepath] ?? ann[ANNOTATION.title];
        const meta = fileMetadata(ann);
        if (packing !== 'raw' && meta?.regular) tarFile = { size: meta.size };
        break;
      }
      case 'kitops': {
        const k = kit.find((e) => e.digest === desc.digest);
        path = k?.path ?? ann[ANNOTATION.title];
        if (k?.diffId) diffId = k.diffId;
        if (packing === 'raw') packing = 'tar'; // every KitOps layer is a tar (kitops mediaType.go)
        break;
      }
      case 'oras': {
        path = ann[ANNOTATION.title];
        // oras push labels files `…layer.v1.tar` though the blob is the file; only unpack=true is a tar.
        if (ann[ANNOTATION.orasUnpack] === 'true') {
          if (packing === 'raw') packing = 'tar+gzip';
          if (ann[ANNOTATION.orasContentDigest]) diffId = ann[ANNOTATION.orasContentDigest];
        } else packing = 'raw';
        break;
      }
      case 'oci-image':
        path = '';
        if (packing === 'raw') packing = 'tar';
        break;
    }
    if (path === undefined) protocol(`${what}: layer ${index} (${desc.digest}) declares no file path`);
    const norm = path === '' ? '' : checkPath(path, `${what} layer ${index}`);
    if (packing === 'raw' && diffId && diffId !== desc.digest) {
      throw new ModelsealError('DIGEST_MISMATCH', `${what}: raw layer ${index} has diffId ${diffId} but digest ${desc.digest}`);
    }
    const layer: ModelLayer = { index, desc, packing, path: norm, ...(diffId ? { diffId } : {}), ...(tarFile ? { tarFile } : {}) };
    if (norm === SIGNATURE_FILE && packing === 'raw') {
      signatureLayer = layer;
      return;
    }
    out.push(layer);
  });

  // Two layers claiming one path, or a file layer and a directory layer nesting, would let the later one win.
  const paths = out.filter((l) => l.path !== '').map((l) => l.path).sort();
  for (let i = 1; i < paths.length; i++) {
    if (paths[i] === paths[i - 1] || paths[i]!.startsWith(`${paths[i - 1]}/`)) protocol(`${what}: layers overlap at ${paths[i]}`);
  }
  return {
    format,
    ...(typeof json.artifactType === 'string' ? { artifactType: json.artifactType } : {}),
    configMediaType: config.mediaType,
    layers: out,
    ...(signatureLayer ? { signatureLayer } : {}),
  };
}

export { isModelPackConfig };
