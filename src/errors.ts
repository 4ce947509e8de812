/**
 * One error type for the whole tool. Callers branch on `code`, never on the message;
 * the CLI maps the code's class to a stable, documented exit code (README "Exit codes").
 */

/** Exit codes are part of the public contract: never renumber, only add. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  SIGNATURE: 3,
  DIGEST_MISMATCH: 4,
  FILE_SET: 5,
  POLICY: 6,
  SOURCE: 7,
  UNSAFE_CONTENT: 8,
  /** Stopped by SIGINT (128 + 2, the shell convention). */
  INTERRUPTED: 130,
  /** Stopped by SIGTERM (128 + 15: what Kubernetes reports for a terminated container). */
  TERMINATED: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Every code the tool raises, grouped by the exit code it maps to. */
const CODES = {
  // 2: the user asked for something malformed or impossible
  USAGE: 'USAGE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  POLICY_INVALID: 'POLICY_INVALID',
  KEY_INVALID: 'KEY_INVALID',
  KEY_PASSWORD: 'KEY_PASSWORD',
  REFERENCE_INVALID: 'REFERENCE_INVALID',
  PATH_INVALID: 'PATH_INVALID',
  /** Keyless signing found no usable OIDC token (none in the environment, refused, malformed, expired). */
  IDENTITY_TOKEN_UNAVAILABLE: 'IDENTITY_TOKEN_UNAVAILABLE',
  // 3: the signature (or its container) cannot be trusted
  BUNDLE_INVALID: 'BUNDLE_INVALID',
  BUNDLE_TOO_LARGE: 'BUNDLE_TOO_LARGE',
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  SIGNATURE_MISSING: 'SIGNATURE_MISSING',
  PAYLOAD_INVALID: 'PAYLOAD_INVALID',
  MANIFEST_INCONSISTENT: 'MANIFEST_INCONSISTENT',
  CERTIFICATE_INVALID: 'CERTIFICATE_INVALID',
  UNTRUSTED_SIGNER: 'UNTRUSTED_SIGNER',
  IDENTITY_MISMATCH: 'IDENTITY_MISMATCH',
  TLOG_INVALID: 'TLOG_INVALID',
  SUBJECT_MISMATCH: 'SUBJECT_MISMATCH',
  SIGNATURE_EXPIRED: 'SIGNATURE_EXPIRED',
  TIMESTAMP_INVALID: 'TIMESTAMP_INVALID',
  // 4: bytes differ from what was signed
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  SIZE_MISMATCH: 'SIZE_MISMATCH',
  // 5: the set of files differs from what was signed
  FILE_MISSING: 'FILE_MISSING',
  FILE_UNSIGNED: 'FILE_UNSIGNED',
  SYMLINK_REJECTED: 'SYMLINK_REJECTED',
  PATH_UNSAFE: 'PATH_UNSAFE',
  FILE_TYPE_UNSUPPORTED: 'FILE_TYPE_UNSUPPORTED',
  // 6: verified, but the trust policy says no
  POLICY_VIOLATION: 'POLICY_VIOLATION',
  SBOM_REQUIRED: 'SBOM_REQUIRED',
  SBOM_INVALID: 'SBOM_INVALID',
  OBJECT_LOCK_REQUIRED: 'OBJECT_LOCK_REQUIRED',
  IMMUTABILITY_REQUIRED: 'IMMUTABILITY_REQUIRED',
  // 7: could not read the source
  SOURCE_UNAVAILABLE: 'SOURCE_UNAVAILABLE',
  NETWORK: 'NETWORK',
  AUTH_FAILED: 'AUTH_FAILED',
  NOT_FOUND: 'NOT_FOUND',
  REGISTRY_PROTOCOL: 'REGISTRY_PROTOCOL',
  IO: 'IO',
  TIMEOUT: 'TIMEOUT',
  // 8: content is malformed or can run code when loaded
  UNSAFE_CONTENT: 'UNSAFE_CONTENT',
  FORMAT_INVALID: 'FORMAT_INVALID',
  ARCHIVE_UNSAFE: 'ARCHIVE_UNSAFE',
  // 130 / 143: stopped by a signal
  INTERRUPTED: 'INTERRUPTED',
  TERMINATED: 'TERMINATED',
  // 1
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof CODES)[keyof typeof CODES];

const EXIT_BY_CODE: Record<ErrorCode, ExitCodeValue> = {
  USAGE: 2, CONFIG_INVALID: 2, POLICY_INVALID: 2, KEY_INVALID: 2, KEY_PASSWORD: 2, REFERENCE_INVALID: 2, PATH_INVALID: 2,
  IDENTITY_TOKEN_UNAVAILABLE: 2,
  BUNDLE_INVALID: 3, BUNDLE_TOO_LARGE: 3, SIGNATURE_INVALID: 3, SIGNATURE_MISSING: 3, PAYLOAD_INVALID: 3,
  MANIFEST_INCONSISTENT: 3, CERTIFICATE_INVALID: 3, UNTRUSTED_SIGNER: 3, IDENTITY_MISMATCH: 3, TLOG_INVALID: 3,
  SUBJECT_MISMATCH: 3, SIGNATURE_EXPIRED: 3, TIMESTAMP_INVALID: 3,
  DIGEST_MISMATCH: 4, SIZE_MISMATCH: 4,
  FILE_MISSING: 5, FILE_UNSIGNED: 5, SYMLINK_REJECTED: 5, PATH_UNSAFE: 5, FILE_TYPE_UNSUPPORTED: 5,
  POLICY_VIOLATION: 6, SBOM_REQUIRED: 6, SBOM_INVALID: 6, OBJECT_LOCK_REQUIRED: 6, IMMUTABILITY_REQUIRED: 6,
  SOURCE_UNAVAILABLE: 7, NETWORK: 7, AUTH_FAILED: 7, NOT_FOUND: 7, REGISTRY_PROTOCOL: 7, IO: 7, TIMEOUT: 7,
  UNSAFE_CONTENT: 8, FORMAT_INVALID: 8, ARCHIVE_UNSAFE: 8,
  INTERRUPTED: 130, TERMINATED: 143,
  INTERNAL: 1,
};

export class ModelsealError extends Error {
  readonly code: ErrorCode;
  /** Structured facts for the decision log (file names, digests); never secrets. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelsealError';
    this.code = code;
    this.details = options.details ?? {};
  }

  get exitCode(): ExitCodeValue {
    return EXIT_BY_CODE[this.code];
  }
}

/** Filesystem errors about a path the user gave (or where it points): a mistake to fix, not a bug. */
const PATH_ERRNO = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENAMETOOLONG', 'ELOOP']);

/**
 * A raw Node filesystem error that escaped a specific check becomes PATH_INVALID (exit 2) with
 * its path and reason; anything else unexpected stays INTERNAL (a bug to report).
 */
export function asModelsealError(err: unknown): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e.code === 'string' && PATH_ERRNO.has(e.code)) {
    const where = e.path ? ` ${e.path}` : '';
    return new ModelsealError('PATH_INVALID', `cannot ${e.syscall ?? 'use'}${where}: ${e.code}`, { cause: err });
  }
  return new ModelsealError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}

export function exitCodeFor(err: unknown): ExitCodeValue {
  return asModelsealError(err).exitCode;
}

/** A one-line reason, safe to print: no stack, no newlines. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

export function isModelsealError(err: unknown, code?: ErrorCode): err is ModelsealError {
  return err instanceof ModelsealError && (code === undefined || err.code === code);
}
