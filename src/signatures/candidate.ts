/**
 * A signature or attestation a store found next to a model: the seam between stores (which find
 * things) and signature formats (which judge them). Bytes are read only when a check needs them,
 * bounded by the store, so a registry or bucket full of attachments costs nothing until asked.
 */
export type CandidateKind =
  /** OMS model.sig bundle. */
  | 'oms'
  /** cosign v3 bundle referrer. */
  | 'cosign-bundle'
  /** cosign legacy `.sig` tag layer (simple-signing payload, signature in annotations). */
  | 'cosign-legacy'
  /** SBOM, plain or as a signed in-toto statement bundle. */
  | 'sbom'
  | 'notation'
  /** A Sigstore bundle whose kind the store could not tell without reading it. */
  | 'bundle';

export interface SignatureCandidate {
  kind: CandidateKind;
  /** Where it was found, for logs and receipts (`model.sig`, `referrer sha256:…`, `tag sha256-….sig`). */
  origin: string;
  /** Declared size when the store knows it before reading. */
  size?: number;
  /** cosign legacy: layer annotations; OCI referrers: manifest annotations. */
  annotations?: Record<string, string>;
  /** The raw bytes (bundle JSON, cosign payload, SBOM), read on demand within the store's bound. */
  read(): Promise<Uint8Array>;
}

/** A candidate whose bytes are already in hand (a local file, a receipt). */
export function candidateOf(kind: CandidateKind, origin: string, bytes: Uint8Array, annotations?: Record<string, string>): SignatureCandidate {
  return { kind, origin, size: bytes.length, ...(annotations ? { annotations } : {}), read: async () => bytes };
}
