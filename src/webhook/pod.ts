import { createHash } from 'node:crypto';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { DEFAULT_INTO } from '../init/config.js';
import { POLICY_NAME } from './config.js';

/**
 * A Pod as the webhook reads it, and the annotations that ask for a model. Everything here is
 * input from whoever creates the Pod: shapes are checked, names are bounded, paths normalised.
 */
export const ANNOTATION = {
  model: 'modelseal.dev/model',
  into: 'modelseal.dev/into',
  containers: 'modelseal.dev/containers',
  policy: 'modelseal.dev/policy',
  volume: 'modelseal.dev/volume',
  imageVolumes: 'modelseal.dev/image-volumes',
  pinned: 'modelseal.dev/pinned',
  signer: 'modelseal.dev/signer',
} as const;

export const INIT_NAME = 'modelseal-init';
export const MODEL_VOLUME = 'modelseal-model';
export const TRUST_VOLUME = 'modelseal-trust';
export const REGISTRY_VOLUME = 'modelseal-registry';
export const RECEIPTS_VOLUME = 'modelseal-receipts';

export interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [k: string]: unknown;
}
export interface Container {
  name: string;
  image?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  volumeMounts?: Mount[];
  [k: string]: unknown;
}
export interface Volume {
  name: string;
  image?: { reference?: string; pullPolicy?: string };
  [k: string]: unknown;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: Record<string, unknown>;
  [k: string]: unknown;
}
export interface Pod {
  metadata: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string>; [k: string]: unknown };
  spec: PodSpec;
}

const refuse = (msg: string) => new ModelsealError('CONFIG_INVALID', msg);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function named(list: unknown, where: string): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw refuse(`${where} must be a list`);
  for (const [i, c] of list.entries()) if (!isObj(c) || typeof c.name !== 'string') throw refuse(`${where}[${i}] has no name`);
}

/** The Pod in an AdmissionReview, shape-checked for the fields the webhook reads or patches. */
export function asPod(o: Record<string, unknown> | null): Pod {
  if (!o || !isObj(o.metadata) || !isObj(o.spec)) throw refuse('the object is not a Pod (no metadata or spec)');
  const spec = o.spec;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) throw refuse('the Pod has no containers');
  named(spec.containers, 'spec.containers');
  named(spec.initContainers, 'spec.initContainers');
  named(spec.volumes, 'spec.volumes');
  for (const c of [...(spec.containers as unknown[]), ...((spec.initContainers as unknown[] | undefined) ?? [])] as Array<Record<string, unknown>>) {
    named(c.volumeMounts, `container ${String(c.name)} volumeMounts`);
    if (c.env !== undefined) named(c.env, `container ${String(c.name)} env`);
  }
  const ann = o.metadata.annotations;
  if (ann !== undefined && (!isObj(ann) || !Object.values(ann).every((v) => typeof v === 'string'))) throw refuse('metadata.annotations must map strings to strings');
  return o as unknown as Pod;
}

export interface ModelRequest {
  reference: string;
  into: string;
  /** Where the model volume is mounted (the parent of `into`). */
  mountDir: string;
  /** Serving containers that get the read-only mount. */
  containers: string[];
  policy: string;
  /** A volume of the Pod's own to place the model in, instead of a new emptyDir. */
  volume?: string;
}

/** `modelseal.dev/into` must be an absolute, normalised path at least two levels deep (its parent is the mount). */
function intoPath(v: string): string {
  if (!v.startsWith('/') || path.posix.normalize(v) !== v || v.endsWith('/') || v.length > 1024 || /[\0\n]/.test(v)) {
    throw refuse(`${ANNOTATION.into} must be a normalised absolute path, not ${JSON.stringify(v)}`);
  }
  if (path.posix.dirname(v) === '/') throw refuse(`${ANNOTATION.into} ${v} needs a parent directory to mount (e.g. /models/model)`);
  return v;
}

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** What the Pod's annotations ask for, or undefined when it names no model. */
export function modelRequest(pod: Pod, defaultPolicy: string): ModelRequest | undefined {
  const ann = pod.metadata.annotations ?? {};
  const reference = ann[ANNOTATION.model]?.trim();
  if (reference === undefined) return undefined;
  if (reference === '' || reference.length > 2048) throw refuse(`${ANNOTATION.model} must name a model reference`);
  const into = intoPath(ann[ANNOTATION.into] ?? DEFAULT_INTO);
  const names = pod.spec.containers.map((c) => c.name);
  const containers = list(ann[ANNOTATION.containers]) ?? names;
  const unknown = containers.filter((c) => !names.includes(c));
  if (unknown.length) throw refuse(`${ANNOTATION.containers} names no container ${unknown.join(', ')} (containers: ${names.join(', ')})`);
  if (containers.length === 0) throw refuse(`${ANNOTATION.containers} names no container`);
  const policy = ann[ANNOTATION.policy] ?? defaultPolicy;
  if (!POLICY_NAME.test(policy)) throw refuse(`${ANNOTATION.policy} must be a policy name (lowercase letters, digits, - .), not ${JSON.stringify(policy)}`);
  const volume = ann[ANNOTATION.volume];
  if (volume !== undefined) {
    const v = pod.spec.volumes?.find((x) => x.name === volume);
    if (!v) throw refuse(`${ANNOTATION.volume} names no volume ${JSON.stringify(volume)} of this Pod`);
    // Read-only volume types cannot receive a placed model.
    const readOnlyKinds = ['image', 'configMap', 'secret', 'downwardAPI', 'projected'];
    const kind = Object.keys(v).find((k) => k !== 'name');
    if (kind && readOnlyKinds.includes(kind)) throw refuse(`${ANNOTATION.volume} ${volume} is a ${kind} volume, which the init container cannot write`);
  }
  return { reference, into, mountDir: path.posix.dirname(into), containers, policy, ...(volume ? { volume } : {}) };
}

/** The Pod's image volumes that hold models: all of them, or the ones `modelseal.dev/image-volumes` names. */
export function imageVolumes(pod: Pod): Array<{ index: number; name: string; reference: string }> {
  const all = (pod.spec.volumes ?? []).map((v, index) => ({ v, index })).filter(({ v }) => isObj(v.image));
  const wanted = list(pod.metadata.annotations?.[ANNOTATION.imageVolumes]);
  if (wanted) {
    const missing = wanted.filter((w) => !all.some(({ v }) => v.name === w));
    if (missing.length) throw refuse(`${ANNOTATION.imageVolumes} names no image volume ${missing.join(', ')}`);
  }
  return all
    .filter(({ v }) => !wanted || wanted.includes(v.name))
    .map(({ v, index }) => {
      const ref = v.image!.reference;
      if (typeof ref !== 'string' || ref === '' || ref.length > 2048) throw refuse(`image volume ${v.name} has no reference`);
      return { index, name: v.name, reference: ref };
    });
}

/** A container name for a per-volume verifier: a DNS label of at most 63 characters. */
export function verifierName(volume: string): string {
  const n = `modelseal-verify-${volume}`;
  if (n.length <= 63 && DNS_LABEL.test(n)) return n;
  return `modelseal-verify-${createHash('sha256').update(volume).digest('hex').slice(0, 16)}`;
}

/** Image references have no scheme; modelseal's have `oci://`. */
export function ociFromImage(ref: string): string {
  return ref.startsWith('oci://') ? ref : `oci://${ref}`;
}
export function imageFromOci(ref: string): string {
  return ref.replace(/^oci:\/\//, '');
}

export function envValue(c: Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}
