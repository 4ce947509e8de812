import { ModelsealError } from '../../errors.js';
import type { TrustDecision } from '../types.js';
import { requireSignedSbom } from './sbom.js';
import type { CheckFacts, StagedModel } from './staged.js';
import { requireThreshold } from './threshold.js';

export type { CheckFacts, StagedModel } from './staged.js';
export { requireObjectLock } from './object-lock.js';

/**
 * What a trust decision demands of verified bytes before they are placed (or, in place, declared
 * good): no pickle that runs code, a signed SBOM, a cosign signature over the pulled digest, a
 * threshold of authorities. Every entry point runs exactly these, in this order.
 */
export async function runChecks(staged: StagedModel, trust: TrustDecision): Promise<CheckFacts> {
  const r = trust.requirements;
  const facts: CheckFacts = {};
  if (r.blockUnsafePickle) {
    const { enforceScanPolicy, scanDirectory } = await import('../../formats/scan.js');
    enforceScanPolicy(await scanDirectory(staged.dir, staged.files), { blockUnsafePickles: true });
  }
  if (r.requireSbom) facts.sbom = await requireSignedSbom(staged, trust.authorities);
  if (r.requireCosign) {
    if (!staged.resolvedDigest) throw new ModelsealError('POLICY_VIOLATION', 'policy requires a cosign signature, which only OCI artefacts carry');
    const { verifyCosignSignatures } = await import('../../signatures/cosign/verify.js');
    facts.cosign = await verifyCosignSignatures([...staged.candidates], staged.resolvedDigest, trust.authorities, { throwIfNone: true });
  }
  if (r.requireNotation) {
    if (!staged.manifestDescriptor) throw new ModelsealError('POLICY_VIOLATION', 'policy requires a Notation signature, which only OCI artefacts carry');
    const { verifyNotationSignatures } = await import('../../signatures/notation/candidates.js');
    const ok = await verifyNotationSignatures([...staged.candidates], staged.manifestDescriptor, trust.authorities, { throwIfNone: true });
    facts.notation = ok.map((v) => ({ origin: v.origin, signer: v.signer }));
  }
  if (r.threshold > 1) facts.agreeing = await requireThreshold(staged, trust.authorities, r.threshold);
  return facts;
}
