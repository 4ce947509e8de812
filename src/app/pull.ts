import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ModelsealError } from '../errors.js';
import { FollowHasherPool } from '../hashing/follow.js';
import { FollowedWriter } from '../placement/followed-writer.js';
import { assertReportClean, compareResources, signedFiles } from '../model/compare.js';
import { assertSafeRelativePath, GIT_IGNORE_PATHS } from '../model/names.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import { listModelFiles } from '../model/walk.js';
import type { Manifest, Resource } from '../model/types.js';
import { Staging, writeReceiptFile } from '../placement/staging.js';
import type { Receipt } from '../placement/receipt.js';
import type { IncomingFile, ModelSource, ResolvedSource, SignatureCandidate, SourceEntry } from '../stores/types.js';
import type { Authority, VerifiedModelSignature } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';
import { manifestForListing } from './verify.js';
import { TOOL_ID } from '../version.js';

export interface PullOptions {
  /** The reference as the user wrote it (for logs and the receipt). */
  reference: string;
  source: ModelSource;
  authorities: Authority[];
  /** Final directory for the verified model (pull mode). */
  into?: string;
  /**
   * Verify-in-place mode: the model is already on disk here (a PVC, a hostPath cache, an image
   * volume); the source supplies only the signatures. Nothing is copied or moved.
   */
  inPlaceDir?: string;
  /** Skip (never place) files the signature does not cover, instead of refusing. */
  ignoreUnsignedFiles?: boolean;
  concurrency?: number;
  /** Default: `<into>.receipt.json`, beside (never inside) the model. */
  receiptPath?: string;
  policyInfo?: Receipt['policy'];
  /** Extra checks over the staged, verified files before they are placed (SBOM, pickle scan). */
  beforeCommit?: (ctx: StagedModel) => Promise<Partial<Pick<Receipt, 'sbom' | 'cosign'>> | void>;
  signal?: AbortSignal;
}

export interface StagedModel {
  dir: string;
  files: string[];
  manifest: Manifest;
  resolved: ResolvedSource;
  candidates: SignatureCandidate[];
  verified: VerifiedModelSignature;
}

export interface PullResult {
  receipt: Receipt;
  receiptPath: string;
  placedAt: string;
}

/** Try each OMS signature found until one verifies; the error of the last is the reason. */
export async function verifyCandidates(
  candidates: SignatureCandidate[],
  authorities: Authority[],
): Promise<{ verified: VerifiedModelSignature; candidate: SignatureCandidate }> {
  const oms = candidates.filter((c) => c.kind === 'oms');
  if (oms.length === 0) throw new ModelsealError('SIGNATURE_MISSING', 'no OMS model signature found for this model');
  let last: unknown;
  for (const candidate of oms) {
    try {
      return { verified: await verifyModelSignature(candidate.bytes, authorities), candidate };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/**
 * Compare the source's listing with the signed manifest before any weight byte moves:
 * missing files, unsigned extras and (where the source's addressing proves it) wrong digests
 * or sizes are refused here.
 */
export function planFetch(manifest: Manifest, entries: SourceEntry[], ignoreUnsignedFiles: boolean): SourceEntry[] {
  const signed = signedFiles(manifest);
  const byPath = new Map<string, SourceEntry>();
  for (const e of entries) {
    assertSafeRelativePath(e.path, 'source file');
    if (byPath.has(e.path)) throw new ModelsealError('REGISTRY_PROTOCOL', `source lists ${e.path} twice`);
    byPath.set(e.path, e);
  }
  const missing = [...signed.keys()].filter((p) => !byPath.has(p));
  if (missing.length > 0) throw new ModelsealError('FILE_MISSING', `signed file missing from source: ${missing.slice(0, 5).join(', ')}`);
  // Shard signatures cannot represent empty files (trap T4): such a file is neither signed nor
  // unsigned bytes. It is not placed, and not an error (the reference verifier accepts it too).
  const shards = manifest.serialization.method === 'shards';
  const extra = [...byPath.values()].filter((e) => !signed.has(e.path) && !(shards && e.size === 0)).map((e) => e.path);
  if (extra.length > 0 && !ignoreUnsignedFiles) {
    throw new ModelsealError('FILE_UNSIGNED', `source has unsigned file: ${extra.slice(0, 5).join(', ')} (use --ignore-unsigned-files to skip them)`);
  }
  const s = manifest.serialization;
  const byName = new Map(manifest.resources.map((r) => [r.name, r]));
  const wanted: SourceEntry[] = [];
  for (const [p, info] of signed) {
    const e = byPath.get(p)!;
    if (s.method === 'files' && s.hashType === 'sha256' && e.sha256 !== undefined && e.sha256 !== byName.get(p)!.digest) {
      throw new ModelsealError('DIGEST_MISMATCH', `${p}: the source's digest sha256:${e.sha256} is not the signed sha256:${byName.get(p)!.digest}`);
    }
    if (info.size !== undefined && e.size !== undefined && e.size !== info.size) {
      throw new ModelsealError('SIZE_MISMATCH', `${p}: the source has ${e.size} bytes but ${info.size} were signed`);
    }
    wanted.push(e);
  }
  return wanted;
}

/**
 * Verify a model already on disk against the signatures its source provides: same signature,
 * comparison and policy steps as a pull, hashing in the worker pool instead of while streaming.
 */
async function verifyInPlace(opts: PullOptions, dir: string): Promise<PullResult> {
  const { source } = opts;
  try {
    const resolved = await source.resolve();
    const candidates = await source.signatures();
    const { verified, candidate } = await verifyCandidates(candidates, opts.authorities);
    const manifest = verified.manifest;
    const s = manifest.serialization;
    const ignores = [...new Set([...s.ignorePaths, ...GIT_IGNORE_PATHS, 'model.sig'])];
    const files = await listModelFiles(dir, { allowSymlinks: false, ignorePaths: ignores });
    const local = manifestForListing(manifest, files.map((f) => f.rel));
    const actual = await hashModelFiles(files, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE);
    const report = compareResources(local, actual, { ignoreUnsignedFiles: opts.ignoreUnsignedFiles ?? false });
    assertReportClean(report);
    const signedPaths = new Set(signedFiles(local).keys());
    const placed = files.filter((f) => signedPaths.has(f.rel));
    const extraReceipt =
      (await opts.beforeCommit?.({ dir, files: placed.map((f) => f.rel), manifest: local, resolved, candidates, verified })) ?? {};
    const placedAt = path.resolve(dir);
    const sizes = new Map(placed.map((f) => [f.rel, f.size]));
    const receipt = buildReceipt(opts, resolved, local, verified, candidate, placed.map((f) => ({ path: f.rel })), sizes, placedAt, extraReceipt);
    const receiptPath = opts.receiptPath ?? `${placedAt}.receipt.json`;
    await writeReceiptFile(receiptPath, JSON.stringify(receipt, null, 2) + '\n', placedAt);
    return { receipt, receiptPath: path.resolve(receiptPath), placedAt };
  } finally {
    await source.close();
  }
}

/** The one pipeline: resolve → verify signature → plan → stream+hash into staging → commit → receipt. */
export async function pull(opts: PullOptions): Promise<PullResult> {
  if ((opts.into === undefined) === (opts.inPlaceDir === undefined)) {
    throw new ModelsealError('USAGE', 'pull needs exactly one of: a target directory, or a directory to verify in place');
  }
  if (opts.inPlaceDir !== undefined) return verifyInPlace(opts, opts.inPlaceDir);
  const into = opts.into!;
  const { source } = opts;
  const resolved = await source.resolve();
  const candidates = await source.signatures();
  const { verified, candidate } = await verifyCandidates(candidates, opts.authorities);
  const entries = await source.list();
  // Single-file signatures name the file "." (trap T5): the source lists it by its name.
  const manifest = manifestForListing(verified.manifest, entries.map((e) => e.path));
  const wanted = planFetch(manifest, entries, opts.ignoreUnsignedFiles ?? false);

  const staging = await Staging.create(into);
  try {
    await staging.assertRoom(wanted.reduce((n, w) => n + (w.size ?? 0), 0));
    const actual = await fetchIntoStaging(source, staging, manifest, wanted, opts);
    const report = compareResources(manifest, actual.resources, { ignoreUnsignedFiles: false });
    assertReportClean(report);
    const extraReceipt =
      (await opts.beforeCommit?.({ dir: staging.dir, files: wanted.map((w) => w.path), manifest, resolved, candidates, verified })) ?? {};
    const placedAt = await staging.commit();
    const receipt = buildReceipt(opts, resolved, manifest, verified, candidate, wanted, actual.sizes, placedAt, extraReceipt);
    const receiptPath = opts.receiptPath ?? `${placedAt}.receipt.json`;
    await writeReceiptFile(receiptPath, JSON.stringify(receipt, null, 2) + '\n', placedAt);
    return { receipt, receiptPath: path.resolve(receiptPath), placedAt };
  } catch (err) {
    await staging.discard();
    throw err;
  } finally {
    await source.close();
  }
}

async function fetchIntoStaging(
  source: ModelSource,
  staging: Staging,
  manifest: Manifest,
  wanted: SourceEntry[],
  opts: PullOptions,
): Promise<{ resources: Resource[]; sizes: Map<string, number> }> {
  const s = manifest.serialization;
  const expected = new Map(manifest.resources.map((r) => [r.name, r.digest]));
  const pending = new Set(wanted.map((w) => w.path));
  const resources: Resource[] = [];
  const sizes = new Map<string, number>();
  const hashers = new FollowHasherPool();
  const sink = async (file: IncomingFile): Promise<void> => {
    if (!pending.has(file.path)) {
      file.stream.destroy();
      throw new ModelsealError('FILE_UNSIGNED', `source delivered ${JSON.stringify(file.path)}, which was not asked for (or twice)`);
    }
    pending.delete(file.path);
    const dest = staging.pathFor(file.path);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    // Download on this thread, hash on a worker that follows the staging file as it grows.
    const followed = hashers.follow(dest, file.path, s.method, s.hashType, s.shardSize ?? 0);
    const writer = new FollowedWriter(dest, followed);
    try {
      await pipeline(file.stream, writer, { signal: opts.signal });
    } catch (err) {
      followed.abort();
      throw err;
    }
    const got = await followed.finish(writer.bytes);
    // Fail fast on the first wrong file rather than after the whole model has downloaded.
    for (const r of got) {
      const want = expected.get(r.name);
      if (want !== undefined && want !== r.digest) {
        throw new ModelsealError('DIGEST_MISMATCH', `digest mismatch: ${r.name} (got ${s.hashType}:${r.digest}, signed ${want})`);
      }
    }
    resources.push(...got);
    sizes.set(file.path, writer.bytes);
  };
  try {
    await source.fetch(wanted, sink, { concurrency: opts.concurrency ?? 4, signal: opts.signal, callerVerifiesContent: true });
  } finally {
    await hashers.close();
  }
  if (pending.size > 0) throw new ModelsealError('FILE_MISSING', `source did not deliver: ${[...pending].slice(0, 5).join(', ')}`);
  return { resources, sizes };
}

function buildReceipt(
  opts: PullOptions,
  resolved: ResolvedSource,
  manifest: Manifest,
  verified: VerifiedModelSignature,
  candidate: SignatureCandidate,
  wanted: SourceEntry[],
  sizes: Map<string, number>,
  placedAt: string,
  extra: Partial<Pick<Receipt, 'sbom' | 'cosign'>>,
): Receipt {
  const s = manifest.serialization;
  const wholeFileSha = s.method === 'files' && s.hashType === 'sha256';
  const digestOf = new Map(manifest.resources.map((r) => [r.name, r.digest]));
  const bundle = Buffer.from(candidate.bytes).toString('utf8');
  return {
    receiptVersion: 1,
    tool: TOOL_ID,
    createdAt: new Date().toISOString(),
    reference: opts.reference,
    ...(resolved.resolvedDigest ? { resolvedDigest: resolved.resolvedDigest } : {}),
    placedAt,
    model: {
      name: manifest.modelName,
      ...(verified.rootDigest ? { rootDigest: verified.rootDigest } : {}),
      serialization: s,
      resources: manifest.resources,
      files: wanted.map((w) => ({
        path: w.path,
        size: sizes.get(w.path) ?? 0,
        ...(wholeFileSha ? { sha256: digestOf.get(w.path)! } : {}),
        ...(w.facts ? { facts: w.facts } : {}),
      })),
    },
    signature: {
      kind: 'oms',
      origin: candidate.origin,
      predicateType: verified.predicateType,
      bundle,
      bundleSha256: createHash('sha256').update(candidate.bytes).digest('hex'),
    },
    signer: verified.signer,
    ...(opts.policyInfo ? { policy: opts.policyInfo } : {}),
    ...extra,
  };
}
