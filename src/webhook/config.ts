import { ModelsealError } from '../errors.js';

/** What the webhook injects and how it decides; from `modelseal webhook serve` flags. */
export interface WebhookConfig {
  /** enforce: deny what does not verify. audit: allow, with the reason as an AdmissionReview warning. */
  mode: 'enforce' | 'audit';
  /** The modelseal init image injected into pods (pin it by digest in production). */
  initImage: string;
  /** Where the webhook reads trust policies: `<trustDir>/<name>.yaml`, plus the keys they name. */
  trustDir: string;
  /** The pod-side volume holding the same files (mounted at POD_TRUST_DIR), e.g. the same ConfigMap. */
  trustVolume: Record<string, unknown>;
  /** Policy used when a pod names none (`modelseal.dev/policy`). */
  defaultPolicy: string;
  seccomp: { type: 'RuntimeDefault' } | { type: 'Localhost'; localhostProfile: string };
  /** A kubernetes.io/dockerconfigjson Secret mounted into the init container, when the registry needs credentials. */
  registrySecret?: string;
  /** Test registries only: the injected init container may talk plain HTTP. */
  plainHttp: boolean;
  /** Deny (or warn, in audit mode) when verification takes longer; keep below the webhook's timeoutSeconds. */
  checkTimeoutMs: number;
  /** Also inject the `modelseal watch` native sidecar (continuous re-verification, readiness). */
  watch?: { rate: string; intervalSeconds: number };
}

export const POD_TRUST_DIR = '/etc/modelseal/trust';
/** The image's entrypoint runs `init`; other commands name the CLI themselves. */
export const CLI_COMMAND = ['/nodejs/bin/node', '/app/bin/modelseal'];
export const WATCH_PORT = 8081;
export const POLICY_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export function parseTrustVolume(json: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new ModelsealError('USAGE', `--trust-volume is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length !== 1) {
    throw new ModelsealError('USAGE', '--trust-volume must be one volume source, e.g. {"configMap":{"name":"modelseal-trust"}}');
  }
  return v as Record<string, unknown>;
}

export function parseSeccomp(v: string): WebhookConfig['seccomp'] {
  if (v === 'RuntimeDefault') return { type: 'RuntimeDefault' };
  // kubelet resolves localhostProfile under <root-dir>/seccomp; a descending relative path only.
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\.json$/.test(v) || v.split('/').includes('..')) {
    throw new ModelsealError('USAGE', `--seccomp must be RuntimeDefault or a relative profile path ending in .json, not ${JSON.stringify(v)}`);
  }
  return { type: 'Localhost', localhostProfile: v };
}
