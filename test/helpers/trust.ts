import type { Authority } from '../../src/signatures/core/types.js';
import type { TrustDecision, TrustRequirements } from '../../src/trust/types.js';

/** A trust decision as the resolver would make it from flags naming these authorities. */
export function trustOf(authorities: Authority[], requirements: Partial<TrustRequirements> = {}): TrustDecision {
  return {
    reference: 'test',
    authorities,
    requirements: {
      threshold: 1,
      requireSbom: false,
      blockUnsafePickle: true,
      ignoreUnsignedFiles: false,
      requireCosign: false,
      requireObjectLock: false,
      ...requirements,
    },
  };
}
