import { S3Client } from '@aws-sdk/client-s3';
import { ModelsealError } from '../../errors.js';
import type { S3Options } from './options.js';
import { UndiciHttpHandler } from './undici-handler.js';

/**
 * One S3 client per source or publish. Credentials come from the SDK default chain unless the
 * caller passes them; they are never logged (the SDK logger stays off).
 */
export function createS3Client(opts: S3Options): S3Client {
  if (opts.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.endpoint);
    } catch {
      throw new ModelsealError('USAGE', `S3 endpoint ${JSON.stringify(opts.endpoint)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new ModelsealError('USAGE', `S3 endpoint ${JSON.stringify(opts.endpoint)} must be http:// or https://`);
    }
    if (u.username || u.password) throw new ModelsealError('USAGE', 'S3 endpoint must not embed credentials');
  }
  const calc = opts.checksumCalculation ?? 'WHEN_REQUIRED';
  return new S3Client({
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    // A custom endpoint rarely has a region of its own; SigV4 still needs one.
    ...(opts.region !== undefined ? { region: opts.region } : opts.endpoint !== undefined ? { region: 'us-east-1' } : {}),
    forcePathStyle: opts.forcePathStyle ?? false,
    ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
    requestChecksumCalculation: calc,
    // We validate the store's full-object SHA-256 ourselves (the SDK would also try composite CRCs).
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Standard retry mode already retries 503 SlowDown / 429 throttling with backoff on every call.
    maxAttempts: 4,
    retryMode: 'standard',
    // Idle socket timeout: a stalled body surfaces as an error we resume from.
    requestHandler: new UndiciHttpHandler({ connectTimeoutMs: 10_000, idleTimeoutMs: 60_000, connections: 64 }),
  });
}
