import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { GIT_IGNORE_PATHS } from '../model/names.js';
import type { StagedModel } from '../app/pull.js';
import type { Receipt } from '../placement/receipt.js';
import type { Authority } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';

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

/**
 * A signed SBOM for exactly these files: an SBOM bundle (in-toto statement whose predicate is
 * the SBOM and whose subject is the model's root digest) from a trusted authority, whose file
 * list matches the staged files byte for byte.
 */
export async function requireSignedSbom(staged: StagedModel, authorities: Authority[]): Promise<NonNullable<Receipt['sbom']>> {
  const bundles = staged.candidates.filter((c) => c.kind === 'sbom' && looksLikeBundle(c.bytes));
  if (bundles.length === 0) {
    const plain = staged.candidates.some((c) => c.kind === 'sbom');
    throw new ModelsealError('SBOM_REQUIRED', plain ? 'the model has an SBOM but no signed SBOM bundle' : 'the policy requires a signed SBOM and none was found');
  }
  // The SBOM schemas and the Sigstore verifier cost ~30 MiB and ~0.3 s: loaded only when a policy asks.
  const { CYCLONEDX_PREDICATE, SPDX_PREDICATE } = await import('../sbom/parse.js');
  const { verifySbom } = await import('../sbom/verify.js');
  const { verifyStatementBundle } = await import('../signatures/blob/verify.js');
  const predicates = new Set([CYCLONEDX_PREDICATE, SPDX_PREDICATE]);
  let last: unknown;
  for (const c of bundles) {
    try {
      const { statement } = await verifyStatementBundle(c.bytes, authorities);
      const st = statement as { predicateType?: unknown; predicate?: unknown };
      if (typeof st.predicateType !== 'string' || !predicates.has(st.predicateType)) continue;
      const doc = Buffer.from(JSON.stringify(st.predicate));
      const ignorePaths = [...new Set([...staged.manifest.serialization.ignorePaths, ...GIT_IGNORE_PATHS, 'model.sig'])];
      const v = await verifySbom(doc, staged.dir, { bundle: c.bytes, authorities, requireSignature: true, ignorePaths });
      if (staged.verified.rootDigest && v.rootDigest !== staged.verified.rootDigest) {
        throw new ModelsealError('SBOM_INVALID', `the SBOM describes sha256:${v.rootDigest}, not the signed model sha256:${staged.verified.rootDigest}`);
      }
      return { origin: c.origin, sha256: createHash('sha256').update(c.bytes).digest('hex'), ...(v.signer ? { signer: v.signer } : {}) };
    } catch (err) {
      last = err;
    }
  }
  if (last instanceof ModelsealError && last.exitCode !== 3) throw last;
  throw new ModelsealError('SBOM_REQUIRED', `no SBOM bundle verified: ${last instanceof Error ? last.message : 'none had an SBOM predicate'}`);
}

function looksLikeBundle(bytes: Uint8Array): boolean {
  try {
    const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    return typeof j.mediaType === 'string' && j.mediaType.includes('sigstore.bundle') && typeof j.dsseEnvelope === 'object';
  } catch {
    return false;
  }
}

/** The checks a trust policy adds after the bytes verified and before they are placed. */
export function policyChecks(o: PolicyCheckOptions) {
  return async (staged: StagedModel): Promise<Partial<Pick<Receipt, 'sbom' | 'cosign'>>> => {
    const extra: Partial<Pick<Receipt, 'sbom' | 'cosign'>> = {};
    if (o.blockUnsafePickle) {
      const { enforceScanPolicy, scanDirectory } = await import('../formats/scan.js');
      enforceScanPolicy(await scanDirectory(staged.dir, staged.files), { blockUnsafePickles: true });
    }
    if (o.requireSbom) extra.sbom = await requireSignedSbom(staged, o.authorities);
    if (o.requireCosign) {
      if (!staged.resolved.resolvedDigest) throw new ModelsealError('POLICY_VIOLATION', 'policy requires a cosign signature, which only OCI artefacts carry');
      const { verifyCosignSignatures } = await import('../signatures/cosign/verify.js');
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
