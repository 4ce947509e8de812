import type { ContainerClient } from '@azure/storage-blob';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ModelsealError } from '../../errors.js';
import { assertSafeRelativePath } from '../../model/names.js';
import { mapLimit } from '../concurrency.js';
import { isSbomName, pinningOf, SIGNATURE_NAME } from '../object-names.js';
import type { SignatureCandidate } from '../../signatures/candidate.js';
import type { IncomingFile, ModelSource, ResolvedSource, SourceEntry } from '../types.js';
import { listBlobNames, pinBlob, pinnedClient, readSmallBlob, type BlobPin } from './blobs.js';
import { containerClient } from './client.js';
import { azureError } from './errors.js';
import type { AzureOptions } from './options.js';
import { azUrl, parseAzureUrl, type AzureLocation } from './url.js';

const MAX_SIGNATURE_BYTES = 16 * 1024 * 1024;
const MAX_SBOM_BYTES = 64 * 1024 * 1024;
const PROPERTIES_CONCURRENCY = 16;

/**
 * Counts the bytes of one blob as they pass and checks them, at the end, against the size pinned
 * at listing and the service's stored Content-MD5 (when the blob has one). The pipeline's sink
 * hashes the same bytes against the signature; this catches a store that serves other bytes
 * than it listed even for files a policy lets through unsigned.
 */
class PinCheck extends Transform {
  private readonly md5 = createHash('md5');
  private n = 0;
  constructor(
    private readonly pin: BlobPin,
    private readonly what: string,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.n += chunk.length;
    if (this.n > this.pin.size) return cb(new ModelsealError('SIZE_MISMATCH', `${this.what} delivers more than the ${this.pin.size} bytes it listed`));
    if (this.pin.md5) this.md5.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.n !== this.pin.size) return cb(new ModelsealError('SIZE_MISMATCH', `${this.what} delivered ${this.n} bytes, listed ${this.pin.size}`));
    if (this.pin.md5) {
      const got = this.md5.digest('hex');
      if (got !== this.pin.md5) return cb(new ModelsealError('DIGEST_MISMATCH', `${this.what} bytes do not match the stored Content-MD5 (${got} ≠ ${this.pin.md5})`));
    }
    cb();
  }
}

class AzureBlobSource implements ModelSource {
  private readonly loc: AzureLocation;
  private client: ContainerClient | undefined;
  private files: Map<string, BlobPin> | undefined;
  private signature: BlobPin | undefined;
  private sboms: BlobPin[] = [];

  constructor(
    private readonly url: string,
    private readonly opts: AzureOptions,
  ) {
    this.loc = parseAzureUrl(url);
  }

  private async container(): Promise<ContainerClient> {
    this.client ??= await containerClient(this.loc, this.opts);
    return this.client;
  }

  async resolve(): Promise<ResolvedSource> {
    const c = await this.container();
    const where = azUrl(this.loc, this.loc.prefix);
    const names = await listBlobNames(c, this.loc);
    if (names.length === 0) throw new ModelsealError('NOT_FOUND', `no blobs under ${where}`);
    const rels = names.map((n) => n.slice(this.loc.prefix.length));
    // Refuse unsafe names before a single byte is read.
    for (const rel of rels) if (rel !== SIGNATURE_NAME && !isSbomName(rel)) assertSafeRelativePath(rel, where);

    // Get Blob Properties once per blob: the ETag and version that pin every later GET, the stored
    // MD5, and what holds it (legal hold, retention policy).
    const pins = await mapLimit(names, PROPERTIES_CONCURRENCY, (n) => pinBlob(c, this.loc, n));
    const files = new Map<string, BlobPin>();
    pins.forEach((pin, i) => {
      const rel = rels[i]!;
      if (rel === SIGNATURE_NAME) this.signature = pin;
      else if (isSbomName(rel)) this.sboms.push(pin);
      else files.set(rel, pin);
    });
    if (this.opts.requireImmutability) checkImmutable(files, where);
    this.files = files;
    const all = [...files.values()];
    const versioned = all.filter((p) => p.versionId).length;
    return {
      reference: this.url,
      facts: {
        account: this.loc.account,
        container: this.loc.container,
        prefix: this.loc.prefix,
        blobs: all.length,
        bytes: all.reduce((n, p) => n + p.size, 0),
        pinning: pinningOf(versioned, all.length),
        immutability: all.every((p) => p.immutable) ? 'all' : all.some((p) => p.immutable) ? 'some' : 'none',
      },
    };
  }

  private resolved(): Map<string, BlobPin> {
    if (!this.files) throw new ModelsealError('INTERNAL', 'Azure Blob source used before resolve()');
    return this.files;
  }

  async signatures(): Promise<SignatureCandidate[]> {
    this.resolved();
    const c = await this.container();
    // Read on demand, pinned and bounded: a check that never needs an SBOM never downloads it.
    const lazy = (kind: 'oms' | 'sbom', pin: BlobPin, max: number): SignatureCandidate => ({
      kind, origin: azUrl(this.loc, pin.name), size: pin.size, read: () => readSmallBlob(c, this.loc, pin, max),
    });
    return [...(this.signature ? [lazy('oms', this.signature, MAX_SIGNATURE_BYTES)] : []), ...this.sboms.map((s) => lazy('sbom', s, MAX_SBOM_BYTES))];
  }

  async list(): Promise<SourceEntry[]> {
    return [...this.resolved().entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, p]) => ({ path, size: p.size, facts: factsOf(p) }));
  }

  async fetch(wanted: SourceEntry[], sink: (file: IncomingFile) => Promise<void>, opts: { concurrency: number; signal?: AbortSignal }): Promise<void> {
    const files = this.resolved();
    const c = await this.container();
    const pins = wanted.map((w) => {
      const pin = files.get(w.path);
      if (!pin) throw new ModelsealError('INTERNAL', `fetch asked for ${JSON.stringify(w.path)}, which the Azure listing does not hold`);
      return pin;
    });
    await mapLimit(wanted, Math.max(1, opts.concurrency), async (entry, i) => {
      const pin = pins[i]!;
      const what = azUrl(this.loc, pin.name);
      if (opts.signal?.aborted) throw new ModelsealError('NETWORK', 'fetch aborted');
      const { blob, conditions } = pinnedClient(c, pin);
      let body: NodeJS.ReadableStream;
      try {
        // One stream per blob; the SDK resumes a dropped body from the last byte, still If-Match.
        const res = await blob.download(0, undefined, { conditions, maxRetryRequests: 5, ...(opts.signal ? { abortSignal: opts.signal } : {}) });
        if (!res.readableStreamBody) throw new ModelsealError('REGISTRY_PROTOCOL', `${what} returned no body`);
        body = res.readableStreamBody;
      } catch (err) {
        throw azureError(err, what);
      }
      const check = new PinCheck(pin, what);
      let streamErr: unknown;
      check.on('error', (e) => {
        streamErr = e;
      });
      body.on('error', (e) => check.destroy(azureError(e, what)));
      body.pipe(check);
      try {
        await sink({ path: entry.path, size: pin.size, stream: check });
      } catch (err) {
        check.destroy();
        // A mismatch seen here is the real reason the sink's write failed.
        throw streamErr instanceof ModelsealError && !(err instanceof ModelsealError && err.exitCode === 4) ? streamErr : err;
      }
      if (streamErr) throw streamErr;
    });
  }

  async close(): Promise<void> {
    this.client = undefined;
  }
}

function checkImmutable(files: Map<string, BlobPin>, where: string): void {
  const loose = [...files.entries()].filter(([, p]) => !p.immutable).map(([rel, p]) => `${rel}${p.immutability ? ` (${p.immutability})` : ''}`);
  if (loose.length) {
    throw new ModelsealError(
      'IMMUTABILITY_REQUIRED',
      `${loose.length} blob(s) under ${where} are under neither a locked time-based retention policy nor a legal hold: ${loose.slice(0, 5).join(', ')}${loose.length > 5 ? ', …' : ''}`,
      { details: { mutable: loose } },
    );
  }
}

function factsOf(p: BlobPin): Record<string, string> {
  const f: Record<string, string> = { etag: p.etag };
  if (p.versionId) f.versionId = p.versionId;
  if (p.md5) f.contentMd5 = p.md5;
  if (p.immutability) f.immutability = p.immutability;
  return f;
}

/** A ModelSource over `az://account/container/prefix` (see ModelSource for the call order). */
export function createAzureSource(url: string, opts: AzureOptions): ModelSource {
  return new AzureBlobSource(url, opts);
}
