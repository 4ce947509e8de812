import { policyChecks } from '../trust/checks.js';
import { trustForPull } from '../cli/pull.js';
import type { PullOptions } from '../app/pull.js';
import { openSource, sourceKind } from '../stores/registry.js';
import type { ModelSource } from '../stores/types.js';
import type { Authority } from '../signatures/core/types.js';
import type { InitConfig } from './config.js';

/** Trust for one init run: the authorities, plus what the policy rule adds to the pull. */
export interface InitTrust {
  authorities: Authority[];
  ignoreUnsignedFiles: boolean;
  pullExtras: Pick<PullOptions, 'beforeCommit'> & Partial<Pick<PullOptions, 'policyInfo'>>;
}

/** The same trust and policy checks as `modelseal pull` (one rule set, whichever entrypoint runs). */
export async function resolveInitTrust(cfg: InitConfig): Promise<InitTrust> {
  const { certChain, ...rest } = cfg.trust;
  // An empty chain is "not given": resolveTrust counts any present flag as mixing with --policy.
  const trust = await trustForPull(cfg.source, { ...rest, ...(certChain.length > 0 ? { certChain } : {}), ...(cfg.policy ? { policy: cfg.policy } : {}) });
  const rule = 'rule' in trust ? trust.rule : undefined;
  const policy = 'policy' in trust ? trust.policy : undefined;
  return {
    authorities: trust.authorities,
    ignoreUnsignedFiles: rule?.ignoreUnsignedFiles ?? false,
    pullExtras: {
      beforeCommit: policyChecks({
        requireSbom: rule?.requireSbom ?? false,
        blockUnsafePickle: rule?.blockUnsafePickle ?? true,
        requireCosign: rule?.requireCosign ?? false,
        threshold: rule?.threshold ?? 1,
        authorities: trust.authorities,
      }),
      ...(policy && rule ? { policyInfo: { path: policy.source, sha256: policy.sha256, rule: rule.match } } : {}),
    },
  };
}

/** Credentials stay in files: a mounted docker config for registries, the AWS SDK chain (IRSA token file) for S3. */
export async function openInitSource(cfg: InitConfig): Promise<ModelSource> {
  const reference = cfg.mode === 'verify-in-place' && sourceKind(cfg.source) === 'dir' ? cfg.path! : cfg.source;
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
    ...(cfg.signature ? { signaturePath: cfg.signature } : {}),
  });
}
