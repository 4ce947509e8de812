import { ModelsealError } from '../errors.js';
import type { StagedModel } from '../pull.js';
import type { Receipt } from '../placement/receipt.js';
import type { Authority } from '../verification/types.js';
import { verifyModelSignature } from '../verification/verify.js';

export interface PolicyCheckOptions {
  requireSbom: boolean;
  blockUnsafePickle: boolean;
  requireCosign: boolean;
  threshold: number;
  authorities: Authority[];
}

/**
 * How many distinct authorities signed this exact model: each OMS signature found is tried
 * against each authority alone, and counts only if it signs the same root digest.
 */
export async function countAgreeingAuthorities(staged: StagedModel, authorities: Authority[]): Promise<string[]> {
  const agreeing = new Set<string>();
  for (const [i, a] of authorities.entries()) {
    const name = a.name ?? `authority-${i}`;
    for (const c of staged.candidates.filter((x) => x.kind === 'oms')) {
      try {
        const v = await verifyModelSignature(c.bytes, [a]);
        if (v.rootDigest === staged.verified.rootDigest) {
          agreeing.add(name);
          break;
        }
      } catch {
        /* this authority did not sign this bundle */
      }
    }
  }
  return [...agreeing];
}

/** The checks a trust policy adds after the bytes verified and before they are placed. */
export function policyChecks(o: PolicyCheckOptions) {
  return async (staged: StagedModel): Promise<Partial<Pick<Receipt, 'sbom' | 'cosign'>>> => {
    const extra: Partial<Pick<Receipt, 'sbom' | 'cosign'>> = {};
    if (o.requireCosign) {
      if (!staged.resolved.resolvedDigest) throw new ModelsealError('POLICY_VIOLATION', 'policy requires a cosign signature, which only OCI artefacts carry');
      const { verifyCosignSignatures } = await import('../verification/cosign.js');
      extra.cosign = await verifyCosignSignatures(staged.candidates, staged.resolved.resolvedDigest, o.authorities, { throwIfNone: true });
    }
    if (o.threshold > 1) {
      const agreeing = await countAgreeingAuthorities(staged, o.authorities);
      if (agreeing.length < o.threshold) {
        throw new ModelsealError('POLICY_VIOLATION', `policy needs ${o.threshold} authorities to sign this model; ${agreeing.length} did (${agreeing.join(', ') || 'none'})`);
      }
    }
    return extra;
  };
}
