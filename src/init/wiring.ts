import { openSource, referenceKind } from '../stores/registry.js';
import type { ModelSource } from '../stores/types.js';
import { resolveTrust } from '../trust/resolve.js';
import type { TrustDecision } from '../trust/types.js';
import type { InitConfig } from './config.js';

/** The same trust resolution as `modelseal pull` (one rule set, whichever entry point runs). */
export async function resolveInitTrust(cfg: InitConfig): Promise<TrustDecision> {
  const { certChain, ...rest } = cfg.trust;
  return resolveTrust(
    cfg.source,
    { ...rest, ...(certChain.length > 0 ? { certChain } : {}), ...(cfg.policy ? { policy: cfg.policy } : {}) },
    { overrides: { ignoreUnsignedFiles: cfg.ignoreUnsignedFiles } },
  );
}

/** Credentials stay in files: a mounted docker config for registries, the AWS SDK chain (IRSA token file) for S3. */
export async function openInitSource(cfg: InitConfig, trust?: TrustDecision): Promise<ModelSource> {
  const reference = cfg.mode === 'verify-in-place' && referenceKind(cfg.source) === 'dir' ? cfg.path! : cfg.source;
  const { registry, s3 } = cfg;
  return openSource(reference, {
    oci: {
      plainHttp: registry.plainHttp,
      env: process.env,
      ...(registry.authFile ? { authFile: registry.authFile } : {}),
      ...(registry.caFile ? { caFile: registry.caFile } : {}),
    },
    s3: {
      forcePathStyle: s3.forcePathStyle,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      ...(s3.region ? { region: s3.region } : {}),
    },
    azure: { requireImmutability: trust?.requirements.requireImmutability ?? false },
    ...(cfg.signature ? { signaturePath: cfg.signature } : {}),
  });
}
