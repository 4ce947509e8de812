import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { logger } from '../../log.js';
import { assertSafeRelativePath } from '../../model/names.js';
import { mapLimit } from '../concurrency.js';
import { isSbomName, SBOM_NAME, SBOM_SIGNATURE_NAME, SIGNATURE_NAME, type SignedModelUpload } from '../object-names.js';
import { listBlobNames } from './blobs.js';
import { containerClient } from './client.js';
import { azureError } from './errors.js';
import { DEFAULT_UPLOAD_BLOCK, type AzureOptions } from './options.js';
import { azUrl, parseAzureUrl, type AzureLocation } from './url.js';

const FILE_CONCURRENCY = 4;
const MIN_BLOCK = 1024 * 1024;
/** Put Block List takes at most 50,000 blocks. */
const MAX_BLOCKS = 50_000;

export interface PublishAzureOptions extends SignedModelUpload {
  azure: AzureOptions;
}

/**
 * Upload a signed model: every file as staged blocks committed only once its bytes re-hashed to
 * the signed SHA-256 (so a file edited after signing never becomes visible), with the whole-blob
 * Content-MD5 set at commit for later reads; then the SBOM, then `model.sig` LAST, so a reader
 * never finds a signature whose files are still arriving. An earlier `model.sig` is deleted first.
 */
export async function publishAzure(opts: PublishAzureOptions): Promise<{ url: string; objects: number }> {
  const loc = parseAzureUrl(opts.url);
  const where = azUrl(loc, loc.prefix);
  const names = new Set<string>();
  for (const f of opts.files) {
    assertSafeRelativePath(f.path, 'publish');
    if (f.path === SIGNATURE_NAME || isSbomName(f.path)) throw new ModelsealError('USAGE', `${f.path} would collide with the signature or SBOM blob; rename or ignore it`);
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw new ModelsealError('INTERNAL', `publish: ${f.path} has no SHA-256 (files serialization required)`);
    names.add(f.path);
  }
  const blockSize = Math.max(MIN_BLOCK, opts.azure.uploadBlockSize ?? DEFAULT_UPLOAD_BLOCK);
  const c = await containerClient(loc, opts.azure);
  let exists: boolean;
  try {
    exists = await c.exists();
  } catch (err) {
    throw azureError(err, `az://${loc.account}/${loc.container}`);
  }
  if (!exists) throw new ModelsealError('NOT_FOUND', `container ${loc.container} does not exist in account ${loc.account}`);
  // Leftover blobs would be unsigned extras that every later pull refuses: stop now instead.
  const existing = (await listBlobNames(c, loc)).map((n) => n.slice(loc.prefix.length));
  const stale = existing.filter((rel) => rel !== SIGNATURE_NAME && !isSbomName(rel) && !names.has(rel));
  if (stale.length) {
    throw new ModelsealError('USAGE', `${where} already holds ${stale.length} blob(s) that are not part of this model (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}); publish to an empty prefix`);
  }
  if (existing.includes(SIGNATURE_NAME)) {
    try {
      await c.getBlobClient(loc.prefix + SIGNATURE_NAME).delete();
    } catch (err) {
      throw azureError(err, azUrl(loc, loc.prefix + SIGNATURE_NAME));
    }
  }
  const log = logger();
  await mapLimit(opts.files, FILE_CONCURRENCY, async (f) => {
    await uploadFile(c, loc, opts.dir, f, blockSize);
    log.debug({ blob: azUrl(loc, loc.prefix + f.path), size: f.size }, 'uploaded');
  });
  let objects = opts.files.length + 1;
  for (const [name, text] of [[SBOM_NAME, opts.sbomJson], [SBOM_SIGNATURE_NAME, opts.sbomBundleJson]] as const) {
    if (text === undefined) continue;
    await putSmall(c, loc, loc.prefix + name, text);
    objects++;
  }
  await putSmall(c, loc, loc.prefix + SIGNATURE_NAME, opts.bundleJson);
  return { url: where, objects };
}

const blockId = (i: number): string => Buffer.from(`block-${i.toString().padStart(8, '0')}`).toString('base64');

async function uploadFile(c: ContainerClient, loc: AzureLocation, dir: string, f: { path: string; size: number; sha256: string }, blockSize: number): Promise<void> {
  const name = loc.prefix + f.path;
  const what = azUrl(loc, name);
  if (Math.ceil(f.size / blockSize) > MAX_BLOCKS) throw new ModelsealError('USAGE', `${f.path} needs more than ${MAX_BLOCKS} blocks of ${blockSize} bytes; raise the block size`);
  let fh;
  try {
    // O_NOFOLLOW: a symlink swapped in after hashing must not be uploaded as a signed file.
    fh = await open(path.join(dir, f.path), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new ModelsealError('SYMLINK_REJECTED', `${f.path} became a symlink after signing`);
    throw new ModelsealError('IO', `cannot read ${f.path}: ${(err as Error).message}`, { cause: err });
  }
  const blob: BlockBlobClient = c.getBlockBlobClient(name);
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  const ids: string[] = [];
  let total = 0;
  try {
    // One block buffer per file in flight: memory is FILE_CONCURRENCY × blockSize, whatever the model size.
    const buf = Buffer.allocUnsafe(blockSize);
    for (;;) {
      let filled = 0;
      while (filled < blockSize) {
        const { bytesRead } = await fh.read(buf, filled, blockSize - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      const block = buf.subarray(0, filled);
      sha.update(block);
      md5.update(block);
      total += filled;
      const id = blockId(ids.length);
      try {
        await blob.stageBlock(id, block, filled, { transactionalContentMD5: createHash('md5').update(block).digest() });
      } catch (err) {
        throw azureError(err, what);
      }
      ids.push(id);
      if (filled < blockSize) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).syscall) throw new ModelsealError('IO', `cannot read ${f.path}: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
  const got = sha.digest('hex');
  if (total !== f.size || got !== f.sha256) {
    throw new ModelsealError('DIGEST_MISMATCH', `${f.path} changed after it was signed (read ${total} bytes, sha256 ${got}); signature not published`);
  }
  try {
    await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: 'application/octet-stream', blobContentMD5: md5.digest() }, metadata: { sha256: got } });
  } catch (err) {
    throw azureError(err, what);
  }
}

async function putSmall(c: ContainerClient, loc: AzureLocation, name: string, text: string): Promise<void> {
  const body = Buffer.from(text, 'utf8');
  try {
    await c.getBlockBlobClient(name).upload(body, body.length, {
      blobHTTPHeaders: { blobContentType: 'application/json', blobContentMD5: createHash('md5').update(body).digest() },
    });
  } catch (err) {
    throw azureError(err, azUrl(loc, name));
  }
}
