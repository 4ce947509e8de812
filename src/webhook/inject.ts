import { ModelsealError } from '../errors.js';
import { CLI_COMMAND, POD_TRUST_DIR, WATCH_PORT, type WebhookConfig } from './config.js';
import { appendOps, mapOps, prependOps, type JsonPatchOp } from './patch.js';
import {
  ANNOTATION,
  INIT_NAME,
  MODEL_VOLUME,
  RECEIPTS_VOLUME,
  REGISTRY_VOLUME,
  TRUST_VOLUME,
  verifierName,
  type Container,
  type ModelRequest,
  type Pod,
} from './pod.js';

/**
 * The JSONPatch that turns an annotated Pod into one whose model is verified before anything
 * serves it: the init container (hardened, pinned source, downward-API identity), the model
 * volume, read-only mounts in the serving containers, and per image volume a verify-in-place
 * init container. Pure: the same Pod and decisions give the same patch.
 */
export const RUN_AS = 65532;
const RECEIPTS_DIR = '/var/run/modelseal/receipts';
const IMAGE_MOUNT_ROOT = '/var/run/modelseal/image';
const REGISTRY_DIR = '/var/run/secrets/modelseal/registry';

export function hardenedSecurityContext(cfg: WebhookConfig): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    runAsGroup: RUN_AS,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: cfg.seccomp,
  };
}

const downwardEnv = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

function baseInit(cfg: WebhookConfig, name: string, env: Array<{ name: string; value: string }>, mounts: Container['volumeMounts']): Container {
  return {
    name,
    image: cfg.initImage,
    env: [
      ...env,
      ...(cfg.plainHttp ? [{ name: 'MODELSEAL_PLAIN_HTTP', value: 'true' }] : []),
      ...downwardEnv,
    ],
    securityContext: hardenedSecurityContext(cfg),
    resources: { requests: { cpu: '500m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    volumeMounts: [
      ...(mounts ?? []),
      { name: TRUST_VOLUME, mountPath: POD_TRUST_DIR, readOnly: true },
      ...(cfg.registrySecret ? [{ name: REGISTRY_VOLUME, mountPath: REGISTRY_DIR, readOnly: true }] : []),
    ],
  };
}

const policyFile = (name: string) => `${POD_TRUST_DIR}/${name}.yaml`;

export const WATCH_NAME = 'modelseal-watch';

/**
 * `modelseal watch` as a native sidecar (init container with restartPolicy Always, after
 * modelseal-init): it starts once the model and its receipt are placed, and its readiness
 * feeds the Pod's Ready condition. RuntimeDefault seccomp: the init profile allows neither
 * inotify nor a listening socket.
 */
function watchSidecar(cfg: WebhookConfig, r: ModelRequest, volume: string): Container {
  return {
    name: WATCH_NAME,
    image: cfg.initImage,
    restartPolicy: 'Always',
    command: CLI_COMMAND,
    args: ['watch', `--path=${r.into}`, `--policy=${policyFile(r.policy)}`, `--rate=${cfg.watch!.rate}`, `--interval=${cfg.watch!.intervalSeconds}`, `--listen=0.0.0.0:${WATCH_PORT}`],
    env: downwardEnv,
    ports: [{ name: 'watch', containerPort: WATCH_PORT }],
    readinessProbe: { httpGet: { path: '/readyz', port: WATCH_PORT }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: WATCH_PORT }, periodSeconds: 20 },
    securityContext: { ...hardenedSecurityContext(cfg), seccompProfile: { type: 'RuntimeDefault' } },
    resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '192Mi' } },
    volumeMounts: [
      { name: volume, mountPath: r.mountDir, readOnly: true },
      { name: TRUST_VOLUME, mountPath: POD_TRUST_DIR, readOnly: true },
    ],
  };
}

/** The init container the webhook injects for a model (also what /validate expects to find). */
export function modelInit(cfg: WebhookConfig, r: ModelRequest, source: string): Container {
  return baseInit(
    cfg,
    INIT_NAME,
    [
      { name: 'MODELSEAL_SOURCE', value: source },
      { name: 'MODELSEAL_INTO', value: r.into },
      { name: 'MODELSEAL_POLICY', value: policyFile(r.policy) },
    ],
    [{ name: r.volume ?? MODEL_VOLUME, mountPath: r.mountDir }],
  );
}

/**
 * Whether a Pod's init container is the one the webhook injects: same image, no command or
 * args of its own, the same environment, mounts and securityContext. The apiserver's defaults
 * (terminationMessagePath, imagePullPolicy) touch none of these.
 */
export function isInjected(existing: Container, expected: Container): boolean {
  const canon = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
  const key = (c: Container) => canon([c.image, c.command ?? null, c.args ?? null, c.env ?? [], c.volumeMounts ?? [], c.securityContext ?? null]);
  return key(existing) === key(expected);
}

export interface ModelPlan {
  request: ModelRequest;
  /** The reference the init container pulls (pinned when admission resolved it). */
  source: string;
  signer?: string;
}
export interface ImageVolumePlan {
  index: number;
  name: string;
  pinnedOci: string;
  pinnedImage: string;
  policy: string;
}

function conflict(msg: string): never {
  throw new ModelsealError('CONFIG_INVALID', msg);
}

export function injectionPatch(pod: Pod, cfg: WebhookConfig, model: ModelPlan | undefined, images: ImageVolumePlan[]): JsonPatchOp[] {
  const spec = pod.spec;
  const volumeNames = new Set((spec.volumes ?? []).map((v) => v.name));
  const initNames = new Set((spec.initContainers ?? []).map((c) => c.name));
  const newVolumes: Array<Record<string, unknown>> = [];
  const newInits: Container[] = [];
  const ops: JsonPatchOp[] = [];
  const annotations: Record<string, string> = {};
  const addVolume = (v: Record<string, unknown> & { name: string }) => {
    if (volumeNames.has(v.name)) conflict(`the Pod already has a volume named ${v.name}, which modelseal injects`);
    volumeNames.add(v.name);
    newVolumes.push(v);
  };
  const addInit = (c: Container) => {
    if (initNames.has(c.name)) conflict(`the Pod already has an init container named ${c.name}, which modelseal injects`);
    initNames.add(c.name);
    newInits.push(c);
  };

  addVolume({ name: TRUST_VOLUME, ...cfg.trustVolume });
  if (cfg.registrySecret) {
    addVolume({ name: REGISTRY_VOLUME, secret: { secretName: cfg.registrySecret, optional: true, items: [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }] } });
  }

  if (model) {
    const r = model.request;
    const volume = r.volume ?? MODEL_VOLUME;
    if (!r.volume) addVolume({ name: MODEL_VOLUME, emptyDir: {} });
    addInit(modelInit(cfg, r, model.source));
    if (cfg.watch) addInit(watchSidecar(cfg, r, volume));
    spec.containers.forEach((c, i) => {
      const mounts = c.volumeMounts ?? [];
      const own = mounts.map((m, j) => ({ m, j })).filter(({ m }) => m.name === volume);
      // Every container that sees the model volume sees it read-only, selected or not.
      for (const { m, j } of own) if (m.readOnly !== true) ops.push({ op: 'add', path: `/spec/containers/${i}/volumeMounts/${j}/readOnly`, value: true });
      if (!r.containers.includes(c.name) || own.length > 0) return;
      if (mounts.some((m) => m.mountPath === r.mountDir)) conflict(`container ${c.name} already mounts something at ${r.mountDir}; set ${ANNOTATION.into} elsewhere`);
      ops.push(...appendOps(c.volumeMounts, `/spec/containers/${i}/volumeMounts`, [{ name: volume, mountPath: r.mountDir, readOnly: true }]));
    });
    if (cfg.seccomp.type === 'Localhost') {
      // Runtimes that read only the legacy annotation (podman kube play 4.x); Kubernetes requires it to agree with the field.
      annotations[`container.seccomp.security.alpha.kubernetes.io/${INIT_NAME}`] = `localhost/${cfg.seccomp.localhostProfile}`;
    }
  }

  if (images.length > 0) addVolume({ name: RECEIPTS_VOLUME, emptyDir: {} });
  for (const iv of images) {
    ops.push({ op: 'replace', path: `/spec/volumes/${iv.index}/image/reference`, value: iv.pinnedImage });
    const dir = `${IMAGE_MOUNT_ROOT}/${iv.name}`;
    const name = verifierName(iv.name);
    addInit(
      baseInit(
        cfg,
        name,
        [
          { name: 'MODELSEAL_MODE', value: 'verify-in-place' },
          { name: 'MODELSEAL_SOURCE', value: iv.pinnedOci },
          { name: 'MODELSEAL_PATH', value: dir },
          { name: 'MODELSEAL_RECEIPT', value: `${RECEIPTS_DIR}/${iv.name}.receipt.json` },
          { name: 'MODELSEAL_POLICY', value: policyFile(iv.policy) },
        ],
        [
          { name: iv.name, mountPath: dir, readOnly: true },
          { name: RECEIPTS_VOLUME, mountPath: RECEIPTS_DIR },
        ],
      ),
    );
    if (cfg.seccomp.type === 'Localhost') {
      annotations[`container.seccomp.security.alpha.kubernetes.io/${name}`] = `localhost/${cfg.seccomp.localhostProfile}`;
    }
  }

  const sc = spec.securityContext;
  // The emptyDir must be writable by the init container's group on Kubernetes; a Pod that chose an fsGroup keeps it.
  if (sc === undefined) ops.push({ op: 'add', path: '/spec/securityContext', value: { fsGroup: RUN_AS } });
  else if (sc.fsGroup === undefined) ops.push({ op: 'add', path: '/spec/securityContext/fsGroup', value: RUN_AS });

  if (model) {
    annotations[ANNOTATION.pinned] = model.source;
    if (model.signer) annotations[ANNOTATION.signer] = model.signer;
  }
  return [
    ...appendOps(spec.volumes, '/spec/volumes', newVolumes),
    // Injected init containers run first: other init containers may already read the model.
    ...prependOps(spec.initContainers, '/spec/initContainers', newInits),
    ...ops,
    ...mapOps(pod.metadata.annotations, '/metadata/annotations', annotations),
  ];
}
