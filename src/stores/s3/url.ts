import { ModelsealError } from '../../errors.js';

/** An S3 location: a bucket and a key prefix (empty, or ending in `/`). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

// AWS general-purpose bucket rules: 3–63 chars of [a-z0-9.-], starting and ending alphanumeric,
// no `..`, not an IPv4 address. Stricter than some stores allow, so a typo never hits the network.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parse `s3://bucket[/prefix]`. The prefix is normalised to end in `/` so `s3://b/m` never
 * matches keys of a sibling `s3://b/m2/`.
 */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/.exec(url);
  if (!m) throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(url)} is not an s3://bucket/prefix URL`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  }
  let prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((seg) => seg === '..' || seg === '.') || prefix.includes('//') || prefix.startsWith('/')) {
    throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(url)} has an unsafe key prefix`);
  }
  if (prefix !== '') prefix += '/';
  return { bucket, prefix };
}

/** Parse an `s3://bucket/key` URL naming one object (a detached signature). */
export function parseS3ObjectUrl(url: string): { bucket: string; key: string } {
  const { bucket, prefix } = parseS3Url(url);
  if (prefix === '' || url.endsWith('/')) throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(url)} does not name an object`);
  return { bucket, key: prefix.slice(0, -1) };
}

export function s3Url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
