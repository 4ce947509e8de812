import { manifestForListing, planFetch } from '../model/plan.js';
import { modelScope } from '../model/scope.js';
import type { Manifest } from '../model/types.js';
import type { ResolvedSource, SourceEntry } from '../stores/types.js';
import type { VerifiedCandidate } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';

/**
 * What to fetch for a signed manifest, or the reason it does not sign these files: the listing in
 * the signer's scope (and a local tree's), compared before any byte moves.
 */
export function planForManifest(signed: Manifest, entries: SourceEntry[], resolved: ResolvedSource, ignoreUnsignedFiles: boolean) {
  const scope = modelScope({
    signed: signed.serialization.ignorePaths,
    ...(resolved.tree ? { gitPaths: resolved.tree.gitPaths, signatureFiles: resolved.tree.signatureFiles } : {}),
  });
  const inScope = entries.filter((e) => scope.isModelFile(e.path));
  // Single-file signatures name the file "." (trap T5): the source lists it by its name.
  const manifest = manifestForListing(signed, inScope.map((e) => e.path));
  return { manifest, wanted: planFetch(manifest, inScope, ignoreUnsignedFiles), ignores: scope.ignores };
}

/** The plan for one verified signature under a trust decision. */
export function planForSignature(v: VerifiedCandidate, entries: SourceEntry[], resolved: ResolvedSource, trust: TrustDecision) {
  return planForManifest(v.verified.manifest, entries, resolved, trust.requirements.ignoreUnsignedFiles);
}
