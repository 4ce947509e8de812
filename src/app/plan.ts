import { manifestForListing, planFetch } from '../model/plan.js';
import { modelScope } from '../model/scope.js';
import type { ResolvedSource, SourceEntry } from '../stores/types.js';
import type { VerifiedCandidate } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';

/** What to fetch for one verified signature, or the reason it does not sign these files. */
export function planForSignature(v: VerifiedCandidate, entries: SourceEntry[], resolved: ResolvedSource, trust: TrustDecision) {
  const scope = modelScope({
    signed: v.verified.manifest.serialization.ignorePaths,
    ...(resolved.tree ? { gitPaths: resolved.tree.gitPaths, signatureFiles: resolved.tree.signatureFiles } : {}),
  });
  const inScope = entries.filter((e) => scope.isModelFile(e.path));
  // Single-file signatures name the file "." (trap T5): the source lists it by its name.
  const manifest = manifestForListing(v.verified.manifest, inScope.map((e) => e.path));
  return { manifest, wanted: planFetch(manifest, inScope, trust.requirements.ignoreUnsignedFiles), ignores: scope.ignores };
}

