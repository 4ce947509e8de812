import type { Resource, Serialization } from '../model/types.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import type { CheckFacts } from '../trust/checks/staged.js';

/**
 * What a pull (or an in-place verification) proves, written outside the verified tree so an
 * auditor can later re-hash the deployed files offline and re-check the signature it records.
 */
export interface Receipt {
  receiptVersion: 1;
  tool: string;
  /** RFC 3339 UTC. */
  createdAt: string;
  /** The model reference as given (`oci://…`, `s3://…`, a path). */
  reference: string;
  /** The immutable digest the reference resolved to (OCI manifest digest), when there is one. */
  resolvedDigest?: string;
  /** Absolute path of the placed (or verified-in-place) model directory. */
  placedAt: string;
  model: {
    name: string;
    /** OMS root digest (hex) of the signed manifest. */
    rootDigest?: string;
    serialization: Serialization;
    /** The signed resources exactly as verified (files, or shards `<path>:<start>:<end>`). */
    resources: Resource[];
    /** Every placed file, its size, its SHA-256 when the signature is `files`+`sha256`, and source pinning facts. */
    files: Array<{ path: string; size: number; sha256?: string; facts?: Record<string, string> }>;
  };
  signature: {
    kind: 'oms';
    /** Where it was found (`model.sig`, `referrer sha256:…`, `s3://…/model.sig`). */
    origin: string;
    predicateType: string;
    /** The bundle exactly as verified (JSON text), so audit can re-verify it offline. */
    bundle: string;
    bundleSha256: string;
  };
  /** cosign signatures over the resolved digest that also verified, if any. */
  cosign?: CheckFacts['cosign'];
  signer: SignerIdentity;
  policy?: { path: string; sha256: string; rule?: string };
  sbom?: CheckFacts['sbom'];
  /** The authorities that each signed exactly these files (policy threshold). */
  agreeing?: string[];
  /** Notation signatures over the pulled manifest that verified (policy requireNotation). */
  notation?: CheckFacts['notation'];
  /**
   * Where each file's bytes came from when that was not simply the source (a mirror, the node
   * cache), and every mirror skipped for a blob with the reason. Provenance only: every byte
   * was verified against the signature whatever delivered it.
   */
  delivery?: {
    files: Record<string, { from: string; blob?: string }>;
    skipped: Array<{ blob: string; mirror: string; reason: string }>;
  };
}
