import { checkModel } from '../app/check.js';
import { ModelsealError } from '../errors.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { formatOciReference, parseOciReference } from '../stores/oci/reference.js';
import { createOciSource } from '../stores/oci/source.js';
import { resolveTrust } from '../trust/resolve.js';

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
 * Admission's checker: the shared `checkModel` use case (resolve, verify every signature under the
 * trust decision, choose the one that signs the listed files, refuse what the listing disproves)
 * with the same trust resolver as pull and init. What needs the bytes is reported as deferred.
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
      const trust = await resolveTrust(pinned, { policy: policyPath });
      const r = await checkModel(pinned, trust, { oci });
      if (r.resolvedDigest !== ref.digest) throw new ModelsealError('REGISTRY_PROTOCOL', `${pinned} resolved to ${r.resolvedDigest ?? 'no digest'}`);
      const q = trust.requirements;
      // Checked by the injected init container against the bytes (and the pinned digest).
      const deferred = [
        ...(q.blockUnsafePickle ? ['content scan'] : []),
        ...(q.requireSbom ? ['signed SBOM'] : []),
        ...(q.requireCosign ? ['cosign signature'] : []),
        ...(q.threshold > 1 ? [`${q.threshold} signing authorities`] : []),
      ];
      return { digest: ref.digest, pinned, signer: r.signer, ...(r.rootDigest ? { rootDigest: r.rootDigest } : {}), deferred };
    },
  };
}
