import { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { ModelsealError } from '../../errors.js';
import { logger } from '../../log.js';
import { assertSafeRelativePath } from '../../model/names.js';
import { createS3Client } from './client.js';
import { s3Error } from './errors.js';
import { listKeys } from './objects.js';
import { DEFAULT_UPLOAD_PART_SIZE, MIN_UPLOAD_PART_SIZE, type S3Options } from './options.js';
import { mapLimit, Semaphore } from '../concurrency.js';
import { isSbomName, SBOM_NAME, SBOM_SIGNATURE_NAME, SIGNATURE_NAME } from './source.js';
import { parseS3Url, s3Url } from './url.js';
import type { SignedModelUpload } from '../object-names.js';

const FILE_CONCURRENCY = 4;
const MULTIPART_QUEUE = 4;
/**
 * Multipart uploads run one file at a time: each holds MULTIPART_QUEUE part buffers, so four at
 * once held 16 × 16 MiB (measured 537 MiB RSS publishing 2 GiB); one file's parts in parallel
 * keep as many requests in flight.
 */
const MULTIPART_FILES = 1;

export interface PublishS3Options extends SignedModelUpload {
  s3: S3Options;
}

/** Hashes and counts bytes on their way to the store, so a file edited after signing is caught. */
class Tally extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

function b64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/**
 * Upload a signed model: every file (single PUT carrying its precomputed SHA-256, or multipart
 * above the part size), then the SBOM, then `model.sig` LAST, so a reader never finds a
 * signature whose files are still arriving. An earlier `model.sig` is deleted first for the
 * same reason: while a re-publish runs, pulls fail closed (no signature) instead of mixing.
 */
export async function publishS3(opts: PublishS3Options): Promise<{ url: string; objects: number }> {
  const { bucket, prefix } = parseS3Url(opts.url);
  const where = s3Url(bucket, prefix);
  const names = new Set<string>();
  for (const f of opts.files) {
    assertSafeRelativePath(f.path, 'publish');
    if (f.path === SIGNATURE_NAME || isSbomName(f.path)) {
      throw new ModelsealError('USAGE', `${f.path} would collide with the signature or SBOM object; rename or ignore it`);
    }
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw new ModelsealError('INTERNAL', `publish: ${f.path} has no SHA-256 (files serialization required)`);
    names.add(f.path);
  }
  const partSize = Math.max(MIN_UPLOAD_PART_SIZE, opts.s3.uploadPartSize ?? DEFAULT_UPLOAD_PART_SIZE);
  const client = createS3Client(opts.s3);
  const log = logger();
  try {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const e = s3Error(err, `s3://${bucket}`);
      throw e.code === 'NOT_FOUND' ? new ModelsealError('NOT_FOUND', `bucket ${bucket} does not exist`, { cause: err }) : e;
    }
    // Leftover objects would be unsigned extras that every later pull refuses: stop now instead.
    const existing = (await listKeys(client, bucket, prefix)).map((k) => k.slice(prefix.length));
    const stale = existing.filter((rel) => rel !== SIGNATURE_NAME && !isSbomName(rel) && !names.has(rel));
    if (stale.length) {
      throw new ModelsealError(
        'USAGE',
        `${where} already holds ${stale.length} object(s) that are not part of this model (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}); publish to an empty prefix`,
      );
    }
    if (existing.includes(SIGNATURE_NAME)) await del(client, bucket, prefix + SIGNATURE_NAME);

    const multipart = new Semaphore(MULTIPART_FILES);
    await mapLimit(opts.files, FILE_CONCURRENCY, async (f) => {
      const target = { client, bucket, key: prefix + f.path, dir: opts.dir, partSize };
      if (f.size <= partSize) {
        await uploadFile(target, f);
      } else {
        await multipart.acquire();
        try {
          await uploadFile(target, f);
        } finally {
          multipart.release();
        }
      }
      log.debug({ object: s3Url(bucket, target.key), size: f.size }, 'uploaded');
    });

    let objects = opts.files.length + 1;
    if (opts.sbomJson !== undefined) {
      await putSmall(client, bucket, prefix + SBOM_NAME, opts.sbomJson);
      objects++;
    }
    if (opts.sbomBundleJson !== undefined) {
      await putSmall(client, bucket, prefix + SBOM_SIGNATURE_NAME, opts.sbomBundleJson);
      objects++;
    }
    await putSmall(client, bucket, prefix + SIGNATURE_NAME, opts.bundleJson);
    return { url: where, objects };
  } finally {
    client.destroy();
  }
}

interface UploadTarget {
  client: S3Client;
  bucket: string;
  key: string;
  dir: string;
  partSize: number;
}

/**
 * One signed file: a single PUT carrying its precomputed SHA-256, or multipart above the part
 * size. The bytes are re-hashed on their way out, so a file edited after signing is caught.
 */
async function uploadFile(t: UploadTarget, f: { path: string; size: number; sha256: string }): Promise<void> {
  const tally = new Tally();
  let fh;
  try {
    // O_NOFOLLOW: a symlink swapped in after hashing must not be uploaded as a signed file.
    fh = await open(path.join(t.dir, f.path), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new ModelsealError('SYMLINK_REJECTED', `${f.path} became a symlink after signing`);
    throw new ModelsealError('IO', `cannot read ${f.path}: ${(err as Error).message}`, { cause: err });
  }
  const src = fh.createReadStream();
  src.on('error', (err) => tally.destroy(err));
  src.pipe(tally);
  try {
    if (f.size > t.partSize) {
      await new Upload({
        client: t.client,
        params: { Bucket: t.bucket, Key: t.key, Body: tally, ChecksumAlgorithm: 'SHA256', ContentType: 'application/octet-stream' },
        partSize: t.partSize,
        queueSize: MULTIPART_QUEUE,
        leavePartsOnError: false,
      }).done();
    } else {
      await t.client.send(
        new PutObjectCommand({
          Bucket: t.bucket,
          Key: t.key,
          Body: tally,
          ContentLength: f.size,
          ContentType: 'application/octet-stream',
          // A precomputed value: the SDK sends it as a header (no aws-chunked trailer), AWS and moto
          // store it as the full-object checksum, Swift ignores it.
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: b64(f.sha256),
        }),
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).syscall) throw new ModelsealError('IO', `cannot read ${f.path}: ${(err as Error).message}`, { cause: err });
    throw s3Error(err, s3Url(t.bucket, t.key));
  } finally {
    src.destroy();
    await fh.close().catch(() => undefined);
  }
  const got = tally.hash.digest('hex');
  if (tally.bytes !== f.size || got !== f.sha256) {
    throw new ModelsealError('DIGEST_MISMATCH', `${f.path} changed after it was signed (uploaded ${tally.bytes} bytes, sha256 ${got}); signature not published`);
  }
}

async function putSmall(client: S3Client, bucket: string, key: string, text: string): Promise<void> {
  const body = Buffer.from(text, 'utf8');
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
      }),
    );
  } catch (err) {
    throw s3Error(err, s3Url(bucket, key));
  }
}

async function del(client: S3Client, bucket: string, key: string): Promise<void> {
  try {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    throw s3Error(err, s3Url(bucket, key));
  }
}
