import path from 'node:path';
import { isModelsealError, ModelsealError, oneLine } from '../errors.js';
import { formatSigner } from '../init/decision.js';
import { logDecision } from '../log.js';
import { parseOciReference } from '../stores/oci/reference.js';
import type { ModelCheck, ModelChecker } from './checker.js';
import type { WebhookConfig } from './config.js';
import { injectionPatch, isInjected, modelInit, type ImageVolumePlan, type ModelPlan } from './inject.js';
import type { JsonPatchOp } from './patch.js';
import { asPod, envValue, imageFromOci, imageVolumes, INIT_NAME, modelRequest, ociFromImage, verifierName, type Pod } from './pod.js';
import { reviewResponse, type AdmissionRequest } from './review.js';

/**
 * One admission decision. `/mutate` verifies and injects; `/validate` sees the final object
 * (after every mutating webhook) and refuses a Pod that names a model but lacks the pinned,
 * verified init container, or mounts an unpinned or unverified image volume.
 */
export type Endpoint = 'mutate' | 'validate';

export interface Decision {
  allowed: boolean;
  reason?: string;
  patch?: JsonPatchOp[];
  warnings: string[];
  audit: Record<string, string>;
}

const WEBHOOK_EVENT = 'model_admission';

/** Decide within the configured deadline; a verification still running then is a failure, never an allow. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelsealError('NETWORK', `verifying ${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolve, then check the digest. `pinned` is set as soon as the tag resolved, so audit mode
 * still pins the init container to the bytes admission looked at.
 */
async function verify(checker: ModelChecker, cfg: WebhookConfig, reference: string, policy: string, seen: { pinned?: string }): Promise<ModelCheck> {
  // Admission can only verify what a manifest describes: an OCI artefact.
  parseOciReference(reference);
  const policyPath = path.join(cfg.trustDir, `${policy}.yaml`);
  return withDeadline(
    (async () => {
      const { pinned } = await checker.resolve(reference);
      seen.pinned = pinned;
      return checker.check(pinned, policyPath);
    })(),
    cfg.checkTimeoutMs,
    reference,
  );
}

function who(req: AdmissionRequest, pod: Pod): { pod_name: string | null; namespace: string | null } {
  return { pod_name: pod.metadata.name ?? req.name ?? (pod.metadata.generateName ? `${pod.metadata.generateName}*` : null), namespace: req.namespace ?? pod.metadata.namespace ?? null };
}

/** `modelseal: <what>: <one line>`; the apiserver prefixes `admission webhook "…" denied the request: `. */
function refusal(what: string, err: unknown): string {
  const code = isModelsealError(err) ? err.code : 'INTERNAL';
  return `modelseal: ${what}: ${code}: ${oneLine(err)}`;
}

export async function admit(req: AdmissionRequest, endpoint: Endpoint, checker: ModelChecker, cfg: WebhookConfig): Promise<Decision> {
  const allow: Decision = { allowed: true, warnings: [], audit: {} };
  // Pods only, on CREATE: a Pod's containers, init containers and volumes cannot change after it.
  if (req.kind.kind !== 'Pod' || req.kind.group !== '' || req.operation !== 'CREATE') return allow;
  let pod: Pod;
  try {
    pod = asPod(req.object);
  } catch (err) {
    return finish(req, undefined, cfg, { ...allow, allowed: false, reason: refusal('pod', err) });
  }
  const problems: string[] = [];
  const decision: Decision = { allowed: true, warnings: [], audit: {} };
  let model: ModelPlan | undefined;
  const images: ImageVolumePlan[] = [];
  try {
    const request = modelRequest(pod, cfg.defaultPolicy);
    const vols = imageVolumes(pod);
    if (!request && vols.length === 0) return allow;
    const existing = pod.spec.initContainers?.find((c) => c.name === INIT_NAME);

    if (request) {
      // validate, or a mutating re-invocation (reinvocationPolicy IfNeeded): the init container is
      // already there and must be ours, pinned to what admission verifies; nothing is injected twice.
      const injected = endpoint === 'validate' || existing !== undefined;
      if (endpoint === 'mutate' && existing && (existing.image !== cfg.initImage || !parseOciReference(envValue(existing, 'MODELSEAL_SOURCE') ?? 'oci://x/y').digest)) {
        throw new ModelsealError('CONFIG_INVALID', `the Pod already has an init container named ${INIT_NAME} that the webhook did not inject; remove it`);
      }
      const reference = injected ? injectedSource(existing, cfg) : request.reference;
      const seen: { pinned?: string } = {};
      try {
        const check = await verify(checker, cfg, reference, request.policy, seen);
        if (injected && parseOciReference(reference).digest !== check.digest) throw new ModelsealError('CONFIG_INVALID', `${INIT_NAME} pulls ${reference}, which is not pinned`);
        // A hand-written look-alike (own command, extra env, other mounts) is not the verifier.
        if (injected && !isInjected(existing!, modelInit(cfg, request, reference))) {
          throw new ModelsealError('CONFIG_INVALID', `${INIT_NAME} differs from the container the webhook injects (image, command, env, mounts or securityContext)`);
        }
        model = { request, source: check.pinned, signer: formatSigner(check.signer) };
        decision.audit.model = check.pinned;
        if (check.deferred.length) decision.warnings.push(`modelseal: ${check.pinned}: checked at pod start: ${check.deferred.join(', ')}`);
      } catch (err) {
        problems.push(refusal(request.reference, err));
        // audit mode still injects the init container: the pod start stays gated.
        model = { request, source: seen.pinned ?? request.reference };
      }
      if (endpoint === 'validate') readOnlyMounts(pod, request.volume ?? existing?.volumeMounts?.[0]?.name, problems);
    }

    for (const v of vols) {
      const reference = ociFromImage(v.reference);
      try {
        if (endpoint === 'validate') {
          const verifier = pod.spec.initContainers?.find((c) => c.name === verifierName(v.name));
          if (!verifier || verifier.image !== cfg.initImage) throw new ModelsealError('CONFIG_INVALID', `image volume ${v.name} has no ${verifierName(v.name)} init container`);
          if (!parseOciReference(reference).digest) throw new ModelsealError('CONFIG_INVALID', `image volume ${v.name} is not pinned by digest`);
        }
        const check = await verify(checker, cfg, reference, request?.policy ?? cfg.defaultPolicy, {});
        images.push({ index: v.index, name: v.name, pinnedOci: check.pinned, pinnedImage: imageFromOci(check.pinned), policy: request?.policy ?? cfg.defaultPolicy });
        decision.audit[`image-volume.${v.name}`] = check.pinned;
      } catch (err) {
        problems.push(refusal(`image volume ${v.name} (${v.reference})`, err));
      }
    }
    if (problems.length > 0 && cfg.mode === 'enforce') return finish(req, pod, cfg, { ...decision, allowed: false, reason: problems.join('; ') });
    decision.warnings.push(...problems);
    const reinvoked = request !== undefined && existing !== undefined;
    if (endpoint === 'mutate' && !reinvoked) decision.patch = injectionPatch(pod, cfg, model, images);
    return finish(req, pod, cfg, decision);
  } catch (err) {
    // The request itself is unusable (bad annotation, name clash): refused in both modes, nothing can be injected.
    return finish(req, pod, cfg, { ...decision, allowed: false, reason: refusal('pod', err) });
  }
}

function injectedSource(existing: { image?: string; env?: Array<{ name: string; value?: string }> } | undefined, cfg: WebhookConfig): string {
  if (!existing) throw new ModelsealError('CONFIG_INVALID', `the Pod names a model but has no ${INIT_NAME} init container (is the mutating webhook registered for it?)`);
  if (existing.image !== cfg.initImage) throw new ModelsealError('CONFIG_INVALID', `${INIT_NAME} runs ${existing.image ?? 'no image'}, not ${cfg.initImage}`);
  const source = envValue(existing as never, 'MODELSEAL_SOURCE');
  if (!source) throw new ModelsealError('CONFIG_INVALID', `${INIT_NAME} has no MODELSEAL_SOURCE`);
  return source;
}

function readOnlyMounts(pod: Pod, volume: string | undefined, problems: string[]): void {
  if (!volume) return;
  for (const c of pod.spec.containers) {
    for (const m of c.volumeMounts ?? []) {
      if (m.name === volume && m.readOnly !== true) problems.push(`modelseal: container ${c.name} mounts the model volume ${volume} writable`);
    }
  }
}

function finish(req: AdmissionRequest, pod: Pod | undefined, cfg: WebhookConfig, d: Decision): Decision {
  if (!d.allowed || d.warnings.length > 0 || d.patch) {
    logDecision({
      event_type: WEBHOOK_EVENT,
      outcome: d.allowed ? 'allowed' : 'blocked',
      model: pod?.metadata.annotations?.['modelseal.dev/model'] ?? '',
      ...(pod ? who(req, pod) : { pod_name: req.name ?? null, namespace: req.namespace ?? null }),
      uid: req.uid,
      mode: cfg.mode,
      ...(d.audit.model ? { resolved_digest: d.audit.model.split('@')[1] } : {}),
      reason: d.reason ?? (d.warnings.length ? d.warnings.join('; ') : 'verified at admission'),
    });
  }
  return d;
}

export function toReview(req: AdmissionRequest, d: Decision) {
  return reviewResponse(req.uid, { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}), ...(d.patch ? { patch: d.patch } : {}), warnings: d.warnings, audit: d.audit });
}
