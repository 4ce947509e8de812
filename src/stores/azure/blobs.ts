import type { BlobClient, BlobGetPropertiesResponse, ContainerClient } from '@azure/storage-blob';
import { ModelsealError } from '../../errors.js';
import { azureError } from './errors.js';
import { azUrl, type AzureLocation } from './url.js';

/** One blob resolved once: every later byte request is pinned to exactly this. */
export interface BlobPin {
  name: string;
  size: number;
  etag: string;
  /** Present when the account keeps blob versions: GETs name it. Absent (Azurite, versioning off): If-Match on the ETag. */
  versionId?: string;
  /** Content-MD5 (hex) the service stored for the whole blob, when one was set at upload. */
  md5?: string;
  /** `legal-hold`, `locked until <iso>`, `unlocked until <iso>`, joined by `+`; absent when nothing holds it. */
  immutability?: string;
  /** Only a legal hold or a locked, unexpired retention policy cannot be lifted by an account admin. */
  immutable: boolean;
}

// Keeps a hostile or mistaken prefix (a whole data lake) from exhausting memory before any check.
const MAX_BLOBS = 100_000;

/** Every blob name under the prefix (flat listing, 5000 per page); `…/` directory markers dropped. */
export async function listBlobNames(c: ContainerClient, loc: AzureLocation): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const page of c.listBlobsFlat({ prefix: loc.prefix }).byPage({ maxPageSize: 5000 })) {
      for (const b of page.segment.blobItems) {
        if (!b.name.endsWith('/')) names.push(b.name);
      }
      if (names.length > MAX_BLOBS) throw new ModelsealError('SOURCE_UNAVAILABLE', `${azUrl(loc, loc.prefix)} holds more than ${MAX_BLOBS} blobs; is the prefix right?`);
    }
  } catch (err) {
    throw azureError(err, azUrl(loc, loc.prefix));
  }
  return names;
}

/**
 * What holds a blob (Get Blob Properties: `x-ms-legal-hold`, `x-ms-immutability-policy-mode`,
 * `x-ms-immutability-policy-until-date`). Container-level policies are not visible per blob on
 * the data plane and so never count here.
 */
export function immutabilityOf(
  p: Pick<BlobGetPropertiesResponse, 'legalHold' | 'immutabilityPolicyMode' | 'immutabilityPolicyExpiresOn'>,
  now = new Date(),
): { text?: string; immutable: boolean } {
  const parts: string[] = [];
  let immutable = false;
  if (p.legalHold === true) {
    parts.push('legal-hold');
    immutable = true;
  }
  const until = p.immutabilityPolicyExpiresOn;
  const mode = p.immutabilityPolicyMode?.toLowerCase();
  if ((mode === 'locked' || mode === 'unlocked') && until instanceof Date && until.getTime() > now.getTime()) {
    parts.push(`${mode} until ${until.toISOString()}`);
    if (mode === 'locked') immutable = true;
  }
  return parts.length ? { text: parts.join('+'), immutable } : { immutable };
}

export async function pinBlob(c: ContainerClient, loc: AzureLocation, name: string): Promise<BlobPin> {
  let p: BlobGetPropertiesResponse;
  try {
    p = await c.getBlobClient(name).getProperties();
  } catch (err) {
    throw azureError(err, azUrl(loc, name));
  }
  const size = p.contentLength;
  if (size === undefined || !Number.isSafeInteger(size) || size < 0 || !p.etag) {
    throw new ModelsealError('REGISTRY_PROTOCOL', `Get Blob Properties of ${azUrl(loc, name)} returned no size or ETag`);
  }
  const imm = immutabilityOf(p);
  return {
    name,
    size,
    etag: p.etag,
    ...(p.versionId ? { versionId: p.versionId } : {}),
    ...(p.contentMD5 && p.contentMD5.length === 16 ? { md5: Buffer.from(p.contentMD5).toString('hex') } : {}),
    ...(imm.text ? { immutability: imm.text } : {}),
    immutable: imm.immutable,
  };
}

/** The pinned blob: its version when there is one, and If-Match on its ETag always. */
export function pinnedClient(c: ContainerClient, pin: BlobPin): { blob: BlobClient; conditions: { ifMatch: string } } {
  const blob = c.getBlobClient(pin.name);
  return { blob: pin.versionId ? blob.withVersion(pin.versionId) : blob, conditions: { ifMatch: pin.etag } };
}

/** Read a small pinned blob (signature, SBOM) whole, refusing anything over `max` bytes. */
export async function readSmallBlob(c: ContainerClient, loc: AzureLocation, pin: BlobPin, max: number): Promise<Uint8Array> {
  const what = azUrl(loc, pin.name);
  if (pin.size > max) throw new ModelsealError('BUNDLE_TOO_LARGE', `${what} is ${pin.size} bytes (limit ${max})`);
  try {
    const { blob, conditions } = pinnedClient(c, pin);
    const res = await blob.download(0, undefined, { conditions });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of res.readableStreamBody ?? []) {
      n += (chunk as Buffer).length;
      if (n > max) throw new ModelsealError('BUNDLE_TOO_LARGE', `${what} exceeds ${max} bytes`);
      chunks.push(chunk as Buffer);
    }
    if (n !== pin.size) throw new ModelsealError('SIZE_MISMATCH', `${what} delivered ${n} bytes, expected ${pin.size}`);
    return new Uint8Array(Buffer.concat(chunks));
  } catch (err) {
    throw azureError(err, what);
  }
}
