import { ModelsealError } from '../errors.js';
import { manifestForListing, planFetch, type ListedFile } from '../model/plan.js';
import { modelScope } from '../model/scope.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { formatOciReference, parseOciReference } from '../stores/oci/reference.js';
import { createOciSource } from '../stores/oci/source.js';
import { requireThreshold } from '../trust/checks/threshold.js';
import { resolveTrust } from '../trust/resolve.js';
import { chooseSignature, sameResources, verifyOmsSignatures } from '../trust/select.js';

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
      // The same resolver as pull and init: the first policy rule matching the canonical reference.
      const trust = await resolveTrust(pinned, { policy: policyPath });
      const r = trust.requirements;
      const src = createOciSource(pinned, oci);
      try {
        await src.resolve();
        const candidates = await src.signatures();
        const found = await verifyOmsSignatures(candidates, trust.authorities);
        const deferred: string[] = [];
        // The signed file set against the manifest's layer listing: raw layers carry the file's
        // SHA-256 as their digest, ModelPack tar layers declare their one member's path.
        const lay = await src.layout();
        const listed: ListedFile[] = [];
        let complete = true;
        for (const l of lay.layers) {
          if (l.packing === 'raw') listed.push({ path: l.path, size: l.desc.size, sha256: l.desc.digest.slice('sha256:'.length) });
          else if (l.tarFile && l.path) listed.push({ path: l.path, size: l.tarFile.size });
          else complete = false;
        }
        if (!complete) deferred.push('file set of tar layers without declared members');
        // As pull chooses: the first verified signature that signs exactly the listed files.
        const { chosen, fitted: manifest } = chooseSignature(found, (v) => {
          const scope = modelScope({ signed: v.verified.manifest.serialization.ignorePaths });
          const inScope = listed.filter((e) => scope.isModelFile(e.path));
          const m = manifestForListing(v.verified.manifest, inScope.map((e) => e.path));
          if (complete) planFetch(m, inScope, r.ignoreUnsignedFiles);
          return m;
        });
        if (r.requireCosign) {
          const { verifyCosignSignatures } = await import('../signatures/cosign/verify.js');
          await verifyCosignSignatures([...candidates], ref.digest, trust.authorities, { throwIfNone: true });
        }
        if (r.threshold > 1) {
          // No bytes here: a signature counts when it signs the same resources (a different
          // serialization would need re-hashing, which only the pod can do).
          await requireThreshold(
            { dir: '', files: [], ignores: [], manifest, resolvedDigest: ref.digest, candidates, chosen, found, signsTheseFiles: async (m) => sameResources(m, manifest) },
            trust.authorities,
            r.threshold,
          );
        }
        if (r.requireSbom) deferred.push('signed SBOM');
        if (r.blockUnsafePickle) deferred.push('content scan');
        return {
          digest: ref.digest,
          pinned,
          signer: chosen.verified.signer,
          ...(chosen.verified.rootDigest ? { rootDigest: chosen.verified.rootDigest } : {}),
          deferred,
        };
      } finally {
        await src.close();
      }
    },
  };
}
