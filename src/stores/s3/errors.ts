import { ModelsealError, oneLine } from '../../errors.js';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const AUTH_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
  'InvalidClientTokenId',
]);
const THROTTLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);
const TRANSIENT_NAMES = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'TimeoutError', 'RequestTimeoutException']);
const NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** The body ended before the requested range was complete: resume the rest. */
export class TruncatedBody extends Error {
  override readonly name = 'TruncatedBody';
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

function status(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

function isNetworkError(err: unknown): boolean {
  const e = shape(err);
  if (e.code !== undefined && NET_CODES.has(e.code)) return true;
  // Node reports a socket cut mid-body as a bare Error('aborted') or 'socket hang up'.
  return /^(aborted|socket hang up|Premature close|other side closed)$/i.test(e.message ?? '') || e.name === 'TimeoutError';
}

/** Worth another try: a dropped or stalled connection, throttling, or a 5xx. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TruncatedBody) return true;
  if (err instanceof ModelsealError) return false;
  const e = shape(err);
  const s = status(err);
  if (e.name === 'AbortError') return false;
  if (e.name !== undefined && (THROTTLE_NAMES.has(e.name) || TRANSIENT_NAMES.has(e.name))) return true;
  if (s !== undefined && (s >= 500 || s === 429)) return true;
  return isNetworkError(err);
}

export function isAbort(err: unknown): boolean {
  return shape(err).name === 'AbortError';
}

/**
 * Turn an SDK, network or stream error into one ModelsealError with a one-line message.
 * `what` names the object or bucket (`s3://b/k`), never credentials.
 */
export function s3Error(err: unknown, what: string): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const e = shape(err);
  const s = status(err);
  const name = e.name ?? 'Error';
  const tag = s !== undefined ? `${name}, HTTP ${s}` : name;
  const detail = oneLine(err);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(detail)) {
    return new ModelsealError('AUTH_FAILED', `no AWS credentials for ${what}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role`, { cause: err });
  }
  if (/Region is missing/i.test(detail)) {
    return new ModelsealError('USAGE', `no AWS region for ${what}: pass --s3-region or set AWS_REGION`, { cause: err });
  }
  if (AUTH_NAMES.has(name)) return new ModelsealError('AUTH_FAILED', `S3 rejected the credentials for ${what} (${tag})`, { cause: err });
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || s === 403) {
    return new ModelsealError('AUTH_FAILED', `access denied to ${what} (${tag})`, { cause: err });
  }
  if (s === 401) return new ModelsealError('AUTH_FAILED', `S3 rejected the credentials for ${what} (${tag})`, { cause: err });
  if (name === 'NoSuchBucket') return new ModelsealError('NOT_FOUND', `bucket of ${what} does not exist`, { cause: err });
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion' || s === 404) {
    return new ModelsealError('NOT_FOUND', `${what} does not exist (${tag})`, { cause: err });
  }
  if (name === 'PreconditionFailed' || s === 412) {
    return new ModelsealError('SOURCE_UNAVAILABLE', `${what} changed after it was listed (ETag pin failed, HTTP 412)`, { cause: err });
  }
  if (THROTTLE_NAMES.has(name) || s === 429 || s === 503) {
    return new ModelsealError('NETWORK', `S3 kept throttling ${what} after retries (${tag})`, { cause: err });
  }
  if (isNetworkError(err) || err instanceof TruncatedBody) {
    return new ModelsealError('NETWORK', `network error on ${what}: ${detail}`, { cause: err });
  }
  return new ModelsealError('SOURCE_UNAVAILABLE', `S3 request for ${what} failed (${tag}): ${detail}`, { cause: err });
}
