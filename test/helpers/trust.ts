import type { Authority } from '../../src/signatures/core/types.js';
import { DEFAULT_REQUIREMENTS, type TrustDecision, type TrustRequirements } from '../../src/trust/types.js';

/** A trust decision as the resolver would make it from flags naming these authorities. */
export function trustOf(authorities: Authority[], requirements: Partial<TrustRequirements> = {}): TrustDecision {
  return {
    reference: 'test',
    authorities,
    requirements: { ...DEFAULT_REQUIREMENTS, ...requirements },
  };
}
