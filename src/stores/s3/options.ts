import type { S3ClientConfig } from '@aws-sdk/client-s3';

/** How to reach an S3-compatible store. Parsed once at the CLI edge (src/cli/s3-options.ts). */
export interface S3Options {
  /** Custom endpoint (`http://127.0.0.1:9000`, MinIO, Ceph, Swift s3api); AWS when absent. */
  endpoint?: string;
  /** Region; the SDK chain (AWS_REGION, profile) when absent, `us-east-1` with a custom endpoint. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`), needed by most non-AWS stores. */
  forcePathStyle?: boolean;
  /** Explicit `s3://bucket/key` of the OMS bundle instead of `<prefix>/model.sig`. */
  signatureUrl?: string;
  /**
   * Explicit credentials (tests, embedding). Production leaves this unset so the AWS SDK default
   * chain applies: env, shared profile, web identity (IRSA), EKS pod identity, IMDS.
   */
  credentials?: S3ClientConfig['credentials'];
  /**
   * `WHEN_REQUIRED` (default) never makes the SDK stream `aws-chunked` bodies with trailing CRCs,
   * which Swift s3api rejects (501) and older stores store verbatim (silent corruption).
   * Our uploads still carry a precomputed SHA-256 where the store keeps one.
   */
  checksumCalculation?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Ranged GET size for downloads (default 64 MiB); a cut connection resumes mid-part. */
  partSize?: number;
  /** Ranged GETs in flight or buffered at once across all files (default 2): bounds memory at ≈ parts × maxPartBuffer. */
  parallelParts?: number;
  /**
   * Most bytes a part waiting behind an earlier one may buffer (default min(partSize, 1 MiB));
   * past it the part stops reading its body until the in-order writer reaches it, while the
   * kernel's socket buffer keeps its connection busy (measured: 1 MiB pulls as fast as 16 MiB).
   */
  maxPartBuffer?: number;
  /** Multipart part size for uploads (default 16 MiB, minimum 5 MiB); files above it go multipart. */
  uploadPartSize?: number;
  /** Resume attempts per download part after a dropped connection or throttling (default 5). */
  retries?: number;
}

export const MiB = 1024 * 1024;
// Measured on a 2 GiB pull from Swift s3api: 64 MiB × 2 took 14.9 s at 142 MiB RSS, 8 MiB × 4
// took 17.3 s at 166-172 MiB (each extra stream costs ~10 MiB of heap, each request CPU on both
// ends). On AWS, where one connection carries ~100 MB/s, raise --s3-parallel-parts for throughput.
export const DEFAULT_PART_SIZE = 64 * MiB;
export const DEFAULT_PARALLEL_PARTS = 2;
export const DEFAULT_UPLOAD_PART_SIZE = 16 * MiB;
export const MIN_UPLOAD_PART_SIZE = 5 * MiB;
export const DEFAULT_RETRIES = 5;
export const MAX_PART_BUFFER = MiB;
