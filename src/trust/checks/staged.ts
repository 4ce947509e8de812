import type { Manifest } from '../../model/types.js';
import type { SignatureCandidate } from '../../signatures/candidate.js';
import type { SignerIdentity } from '../../signatures/core/types.js';
import type { Found, VerifiedCandidate } from '../select.js';

/** A model whose bytes verified against the chosen signature, before it is placed. */
export interface StagedModel {
  /** Where the verified bytes are (the staging directory, or the model verified in place). */
  dir: string;
  /** Model-relative paths of the model's files. */
  files: string[];
  /** What the model scope leaves out of `dir` (signature files, the signer's ignore list). */
  ignores: readonly string[];
  /** The chosen signature's manifest as seen against these files. */
  manifest: Manifest;
  /** The immutable digest the reference resolved to (OCI), for signatures over it. */
  resolvedDigest?: string;
  /** The pulled OCI manifest's descriptor (what a Notation signature names), when there is one. */
  manifestDescriptor?: { digest: string; mediaType: string; size: number };
  candidates: readonly SignatureCandidate[];
  chosen: VerifiedCandidate;
  /** Every OMS signature that verified (for a threshold). */
  found: Found;
  /** Whether another signed manifest covers exactly these files (re-hashing when its serialization differs). */
  signsTheseFiles(m: Manifest): Promise<boolean>;
}

/** What checks add to the receipt. */
export interface CheckFacts {
  sbom?: { origin: string; sha256: string; signer?: SignerIdentity };
  cosign?: Array<{ kind: string; origin: string; signer: SignerIdentity }>;
  /** Authorities that each signed exactly these files (when the policy sets a threshold). */
  agreeing?: string[];
  /** Notation signatures over the pulled manifest that verified. */
  notation?: Array<{ origin: string; signer: SignerIdentity }>;
}
