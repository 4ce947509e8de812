import type { Readable } from 'node:stream';

/**
 * The seam between where a model lives (directory, OCI registry, S3) and the one pull pipeline
 * (src/pull.ts). A source never decides trust: it lists, opens streams, and hands over the
 * signature material it finds; the pipeline verifies, compares and places.
 */

/** A file the source knows about before any weight byte is downloaded. */
export interface SourceEntry {
  /** Model-relative POSIX path. */
  path: string;
  /** Size in bytes when known up front (OCI raw layer size, S3 object size). */
  size?: number;
  /**
   * SHA-256 (lowercase hex) that the source's own addressing guarantees for the file's bytes
   * (an OCI raw layer digest). Lets the pipeline refuse a mismatch before downloading.
   */
  sha256?: string;
  /** Source-specific pinning facts for the receipt (S3 VersionId/ETag, OCI layer digest). */
  facts?: Record<string, string>;
}

/** One file's bytes as they arrive. The pipeline hashes while writing them to staging. */
export interface IncomingFile {
  path: string;
  size?: number;
  stream: Readable;
}

export type { SignatureCandidate } from '../signatures/candidate.js';
import type { SignatureCandidate } from '../signatures/candidate.js';

/** Identity of what was resolved: pull everything from this, never from a mutable name again. */
export interface ResolvedSource {
  /** As the user wrote it. */
  reference: string;
  /** The immutable digest the reference resolved to (OCI manifest digest), if any. */
  resolvedDigest?: string;
  /** Any other facts worth a receipt (media type, format, bucket versioning). */
  facts?: Record<string, unknown>;
  /**
   * Set when the model is a local tree the user pointed at: the signature files read from inside it
   * are not model files, and top-level git paths are left out by default (as `model_signing` does).
   */
  tree?: { signatureFiles: string[]; gitPaths: boolean };
}

export interface ModelSource {
  /** Resolve mutable names once (tag → digest, S3 versions). Called first, exactly once. */
  resolve(): Promise<ResolvedSource>;
  /** Signatures and attestations found for the resolved model. */
  signatures(): Promise<SignatureCandidate[]>;
  /** The files the source will deliver (excluding signature files), before any download. */
  list(): Promise<SourceEntry[]>;
  /**
   * Deliver the given files (a subset of `list()`): for each, call `sink` with its stream as the
   * bytes start to arrive and await it (the sink hashes while writing to staging, and rejects on
   * a mismatch; the source must then stop and reject, unless it has another endpoint for the
   * same bytes — a mirror failed — and delivers the path again: a sink that rejects leaves
   * nothing behind for that path). Sources run up to `concurrency` sinks at
   * once; packed sources (tar layers) deliver in archive order. A source must never deliver a
   * path outside `wanted`, nor an unsafe one.
   */
  fetch(
    wanted: SourceEntry[],
    sink: (file: IncomingFile) => Promise<void>,
    opts: {
      concurrency: number;
      signal?: AbortSignal;
      /**
       * The caller hashes every delivered byte against a signature that covers it (the pull
       * pipeline does). A source may then skip re-hashing raw content with the same algorithm
       * (an OCI raw layer's digest), but must still check sizes and whatever decides paths
       * (tar layers' digests and diffIds).
       */
      callerVerifiesContent?: boolean;
    },
  ): Promise<void>;
  /** Release connections and temporary files. */
  close(): Promise<void>;
  /**
   * Where each delivered file's bytes came from (a mirror or the origin) and every mirror
   * skipped on the way, for the receipt. Sources without mirrors need not implement it.
   */
  delivery?(): Promise<DeliveryReport>;
}

export type { DeliveryReport } from './mirrors/types.js';
import type { DeliveryReport } from './mirrors/types.js';

/** The resolved OCI manifest's descriptor (digest, media type, size), when the store resolved one. */
export function manifestDescriptor(resolved: ResolvedSource): { digest: string; mediaType: string; size: number } | undefined {
  const f = resolved.facts ?? {};
  if (!resolved.resolvedDigest || typeof f.mediaType !== 'string' || typeof f.manifestSize !== 'number') return undefined;
  return { digest: resolved.resolvedDigest, mediaType: f.mediaType, size: f.manifestSize };
}
