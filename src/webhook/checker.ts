import { ModelsealError } from '../errors.js';
import { planFetch, verifyCandidates, type StagedModel } from '../app/pull.js';
import { manifestForListing } from '../app/verify.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { formatOciReference, parseOciReference } from '../stores/oci/reference.js';
import { createOciSource } from '../stores/oci/source.js';
import type { SourceEntry } from '../stores/types.js';
import { countAgreeingAuthorities } from '../trust/checks.js';
import { authoritiesFor } from '../trust/policy/authorities.js';
import { loadPolicy } from '../trust/policy/load.js';
import { ruleFor } from '../trust/policy/match.js';

/**
 * What admission needs from verification: the OCI manifest and the signature bundles, never a
 * weight byte. Resolving a tag and checking a digest are separate so a decision can be cached
 * by digest while a tag is re-resolved on every admission.
 */
export interface ModelCheck {
  digest: string;
  /** `oci://host/repo[:tag]@sha256:…`: what the injected init container is told to pull. */
  pinned: string;
  signer: SignerIdentity;
  rootDigest?: string;
  /** Checks that need the bytes (content scan, SBOM against files) and run in the pod instead. */
  deferred: string[];
}

export interface ModelChecker {
  resolve(reference: string): Promise<{ digest: string; pinned: string }>;
  /** `pinned` must carry a digest; the policy decides who may have signed it. */
  check(pinned: string, policyPath: string): Promise<ModelCheck>;
}

/** Keep the tag beside the digest: policies may match on it, and the digest wins when both are given. */
export function pinReference(reference: string, digest: string): string {
  const r = parseOciReference(reference);
  if (r.digest && r.digest !== digest) throw new ModelsealError('INTERNAL', `${reference} is already pinned to another digest`);
  return formatOciReference({ ...r, digest });
}

/**
 * Built from today's parts (OCI source + discovery, OMS verification, policy rules) until the
 * shared `checkModel` use case exists; same steps a pull takes before its first download.
 */
export function ociModelChecker(oci: OciClientOptions): ModelChecker {
  return {
    async resolve(reference) {
      if (!reference.startsWith('oci://')) throw new ModelsealError('REFERENCE_INVALID', `admission checks oci:// references only, not ${JSON.stringify(reference)}`);
      const src = createOciSource(reference, oci);
      try {
        const r = await src.resolve();
        return { digest: r.resolvedDigest!, pinned: pinReference(reference, r.resolvedDigest!) };
      } finally {
        await src.close();
      }
    },

    async check(pinned, policyPath) {
      const ref = parseOciReference(pinned);
      if (!ref.digest) throw new ModelsealError('INTERNAL', `check needs a pinned reference, not ${pinned}`);
      const policy = await loadPolicy(policyPath);
      const rule = ruleFor(policy, pinned);
      const authorities = await authoritiesFor(policy, rule);
      const src = createOciSource(pinned, oci);
      try {
        const resolved = await src.resolve();
        const candidates = await src.signatures();
        const { verified } = await verifyCandidates(candidates, authorities);
        const deferred: string[] = [];
        // The signed file set against the manifest's layer listing: raw layers carry the file's
        // SHA-256 as their digest, ModelPack tar layers declare their one member's path.
        const lay = await src.layout();
        const entries: SourceEntry[] = [];
        let complete = true;
        for (const l of lay.layers) {
          if (l.packing === 'raw') entries.push({ path: l.path, size: l.desc.size, sha256: l.desc.digest.slice('sha256:'.length) });
          else if (l.tarFile && l.path) entries.push({ path: l.path, size: l.tarFile.size });
          else complete = false;
        }
        if (complete) planFetch(manifestForListing(verified.manifest, entries.map((e) => e.path)), entries, rule.ignoreUnsignedFiles);
        else deferred.push('file set of tar layers without declared members');
        if (rule.requireCosign) {
          const { verifyCosignSignatures } = await import('../signatures/cosign/verify.js');
          await verifyCosignSignatures(candidates, ref.digest, authorities, { throwIfNone: true });
        }
        if (rule.threshold > 1) {
          // Only the candidates and the verified root digest are read (no files exist at admission).
          const staged: StagedModel = { dir: '', files: [], manifest: verified.manifest, resolved, candidates, verified };
          const agreeing = await countAgreeingAuthorities(staged, authorities);
          if (agreeing.length < rule.threshold) {
            throw new ModelsealError('POLICY_VIOLATION', `policy needs ${rule.threshold} authorities to sign this model; ${agreeing.length} did (${agreeing.join(', ') || 'none'})`);
          }
        }
        if (rule.requireSbom) deferred.push('signed SBOM');
        if (rule.blockUnsafePickle) deferred.push('content scan');
        return {
          digest: ref.digest,
          pinned,
          signer: verified.signer,
          ...(verified.rootDigest ? { rootDigest: verified.rootDigest } : {}),
          deferred,
        };
      } finally {
        await src.close();
      }
    },
  };
}
