import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../../errors.js';
import { s3Error } from './errors.js';
import { s3Url } from './url.js';

/** One object resolved once: every later byte request is pinned to exactly this. */
export interface ObjectPin {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  /** Absent on unversioned buckets (and on stores without versioning, such as Swift s3api): pin by ETag. */
  versionId?: string;
  /** Full-object SHA-256 (hex) the store recorded at upload, when it kept one. Composite values are never here. */
  checksumSha256?: string;
  /** `legal-hold`, `<MODE> until <iso>`, or both joined by `+`; absent when nothing holds the object. */
  objectLock?: string;
}

// Keeps a hostile or mistaken prefix (a whole data lake) from exhausting memory before any check.
const MAX_OBJECTS = 100_000;

/** Every key under the prefix, paginated. `…/` directory markers are dropped; zero-byte objects are kept. */
export async function listKeys(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw s3Error(err, s3Url(bucket, prefix));
    }
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined || o.Key.endsWith('/')) continue;
      keys.push(o.Key);
    }
    if (keys.length > MAX_OBJECTS) {
      throw new ModelsealError('SOURCE_UNAVAILABLE', `${s3Url(bucket, prefix)} holds more than ${MAX_OBJECTS} objects; is the prefix right?`);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    if (page.IsTruncated && !token) {
      throw new ModelsealError('REGISTRY_PROTOCOL', `listing ${s3Url(bucket, prefix)} was truncated without a continuation token`);
    }
  } while (token);
  return keys;
}

export async function headObject(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<ObjectPin> {
  let h: HeadObjectCommandOutput;
  try {
    h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }), { abortSignal: signal });
  } catch (err) {
    throw s3Error(err, s3Url(bucket, key));
  }
  const size = h.ContentLength;
  if (size === undefined || !Number.isSafeInteger(size) || size < 0 || h.ETag === undefined) {
    throw new ModelsealError('REGISTRY_PROTOCOL', `HEAD ${s3Url(bucket, key)} returned no size or ETag`);
  }
  const pin: ObjectPin = { bucket, key, size, etag: h.ETag };
  if (h.VersionId) pin.versionId = h.VersionId;
  const sha = fullObjectSha256(h);
  if (sha) pin.checksumSha256 = sha;
  const lock = objectLockOf(h);
  if (lock) pin.objectLock = lock;
  return pin;
}

/**
 * The store's SHA-256 only when it is over the whole object. For multipart uploads SHA-256 is
 * composite-only (a hash of part hashes, ≠ sha256(file)); moto's HEAD even drops the `-N` suffix
 * and the type, so a multipart ETag (`…-N`) also rules it out.
 */
export function fullObjectSha256(h: Pick<HeadObjectCommandOutput, 'ChecksumSHA256' | 'ChecksumType' | 'ETag'>): string | undefined {
  const v = h.ChecksumSHA256;
  if (!v || h.ChecksumType === 'COMPOSITE' || /-\d+$/.test(v)) return undefined;
  if (h.ChecksumType !== 'FULL_OBJECT' && /-\d+"?$/.test(h.ETag ?? '')) return undefined;
  const raw = Buffer.from(v, 'base64');
  return raw.length === 32 ? raw.toString('hex') : undefined;
}

export function objectLockOf(
  h: Pick<HeadObjectCommandOutput, 'ObjectLockLegalHoldStatus' | 'ObjectLockMode' | 'ObjectLockRetainUntilDate'>,
  now = new Date(),
): string | undefined {
  const parts: string[] = [];
  if (h.ObjectLockLegalHoldStatus === 'ON') parts.push('legal-hold');
  const until = h.ObjectLockRetainUntilDate;
  if (h.ObjectLockMode && until instanceof Date && until.getTime() > now.getTime()) parts.push(`${h.ObjectLockMode} until ${until.toISOString()}`);
  return parts.length ? parts.join('+') : undefined;
}

/** Read a small pinned object (signature, SBOM) whole, refusing anything over `max` bytes. */
export async function readSmallObject(client: S3Client, pin: ObjectPin, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  const what = s3Url(pin.bucket, pin.key);
  if (pin.size > max) throw new ModelsealError('BUNDLE_TOO_LARGE', `${what} is ${pin.size} bytes (limit ${max})`);
  try {
    const res = await client.send(
      new GetObjectCommand({ Bucket: pin.bucket, Key: pin.key, IfMatch: pin.etag, ...(pin.versionId ? { VersionId: pin.versionId } : {}) }),
      { abortSignal: signal },
    );
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.Body as Readable) {
      n += (c as Buffer).length;
      if (n > max) throw new ModelsealError('BUNDLE_TOO_LARGE', `${what} exceeds ${max} bytes`);
      chunks.push(c as Buffer);
    }
    if (n !== pin.size) throw new ModelsealError('SIZE_MISMATCH', `${what} delivered ${n} bytes, expected ${pin.size}`);
    return new Uint8Array(Buffer.concat(chunks));
  } catch (err) {
    throw s3Error(err, what);
  }
}
