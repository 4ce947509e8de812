import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ModelsealError } from '../errors.js';
import { FollowHasherPool } from '../hashing/follow.js';
import { assertReportClean, compareResources } from '../model/compare.js';
import { resourcesOf } from '../model/serialize.js';
import type { Manifest, Resource } from '../model/types.js';
import { FollowedWriter } from '../placement/followed-writer.js';
import type { Receipt } from '../placement/receipt.js';
import { receiptBundlePath, signReceipt } from '../placement/receipt-signature.js';
import { Placement, type Staging, writeReceiptFile } from '../placement/staging.js';
import { checkPlaced } from '../placement/converge.js';
import { fsError } from '../placement/fs-errors.js';
import type { Progress } from '../progress/progress.js';
import type { SignerSpec } from '../signatures/core/signer.js';
import { manifestDescriptor, type IncomingFile, type ModelSource, type ResolvedSource, type SourceEntry } from '../stores/types.js';
import { requireObjectLock, runChecks, type CheckFacts, type StagedModel } from '../trust/checks/index.js';
import { chooseSignature, verifyOmsSignatures, type VerifiedCandidate } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';
import { TOOL_ID } from '../version.js';
import type { CacheSession, NodeCache } from '../cache/node-cache.js';
import { receiptDelivery } from '../cache/delivery.js';
import { planForSignature } from './plan.js';
import { signsFiles, verifyInPlace } from './verify.js';
import { annotateDecision, step } from '../telemetry/tracing.js';

export interface PullOptions {
  /** The reference as the user wrote it (for logs and the receipt). */
  reference: string;
  source: ModelSource;
  trust: TrustDecision;
  /** Final directory for the verified model (pull mode). */
  into?: string;
  /**
   * Verify-in-place mode: the model is already on disk here (a PVC, a hostPath cache, an image
   * volume); the source supplies only the signatures. Nothing is copied or moved.
   */
  inPlaceDir?: string;
  concurrency?: number;
  /** Default: `<into>.receipt.json`, beside (never inside) the model. */
  receiptPath?: string;
  /** Also sign the receipt (a Sigstore bundle beside it, `<receipt>.sigstore.json`). */
  receiptSigner?: SignerSpec;
  signal?: AbortSignal;
  /** Node-level verified cache (`--cache DIR`): files taken from it are re-hashed, fetched ones added. */
  cache?: NodeCache;
  /**
   * A target that already holds something: false refuses it (`modelseal pull` without --replace);
   * true re-verifies a model placed earlier and keeps it when it is the one asked for, else
   * stages, verifies and swaps the new one in (init, `pull --replace`).
   */
  replace?: boolean;
  /** Counts files and bytes as they arrive (display, stall rule). */
  progress?: Progress;
}

export interface PullResult {
  receipt: Receipt;
  receiptPath: string;
  placedAt: string;
  /** The target already held this model (placed earlier); it was re-verified in place, nothing downloaded. */
  alreadyPlaced?: boolean;
}

/** Verify in place against the signatures the source provides; nothing is copied or moved. */
async function pullInPlace(opts: PullOptions, dir: string): Promise<PullResult> {
  const { source } = opts;
  try {
    const resolved = await source.resolve();
    const candidates = await source.signatures();
    const res = await verifyInPlace({
      path: dir,
      candidates,
      trust: opts.trust,
      ...(resolved.tree ? { local: { gitPaths: resolved.tree.gitPaths, signatureFiles: resolved.tree.signatureFiles } } : {}),
      ...(resolved.resolvedDigest ? { resolvedDigest: resolved.resolvedDigest } : {}),
      ...(manifestDescriptor(resolved) ? { manifestDescriptor: manifestDescriptor(resolved)! } : {}),
    });
    const placedAt = path.resolve(dir);
    const placed = res.modelFiles;
    const sizes = new Map(placed.map((f) => [f.rel, f.size]));
    const receipt = buildReceipt(opts, resolved, res.manifest, res.chosen, placed.map((f) => ({ path: f.rel })), sizes, placedAt, res.facts);
    return { receipt, receiptPath: await writeReceipt(opts, receipt, path.resolve(opts.receiptPath ?? `${placedAt}.receipt.json`), placedAt), placedAt };
  } finally {
    await source.close();
  }
}

/**
 * The one pull pipeline: resolve once → verify the signatures → choose the one that signs the
 * listed files → refuse what the listing already disproves → stream + hash into staging →
 * compare → policy checks → commit read-only → receipt.
 */
export async function pull(opts: PullOptions): Promise<PullResult> {
  if ((opts.into === undefined) === (opts.inPlaceDir === undefined)) {
    throw new ModelsealError('USAGE', 'pull needs exactly one of: a target directory, or a directory to verify in place');
  }
  if (opts.inPlaceDir !== undefined) return pullInPlace(opts, opts.inPlaceDir);
  const into = opts.into!;
  const { source, trust } = opts;
  try {
    const resolved = await step('resolve', () => source.resolve());
    if (resolved.resolvedDigest) annotateDecision({ digest: resolved.resolvedDigest });
    const { candidates, found, entries, chosen, fitted } = await step('signature', async () => {
      const candidates = await source.signatures();
      const found = await verifyOmsSignatures(candidates, trust.authorities);
      const entries = await source.list();
      return { candidates, found, entries, ...chooseSignature(found, (v) => planForSignature(v, entries, resolved, trust)) };
    });
    annotateDecision({ signer: chosen.verified.signer.identity, ...(resolved.resolvedDigest || !chosen.verified.rootDigest ? {} : { digest: `sha256:${chosen.verified.rootDigest}` }) });
    const { manifest, wanted, ignores } = fitted;
    if (trust.requirements.requireObjectLock) requireObjectLock(wanted, opts.reference);
    const descriptor = manifestDescriptor(resolved);
    const staged = (dir: string, files: Array<{ rel: string; abs: string; size: number }>): StagedModel => ({
      dir,
      ...(descriptor ? { manifestDescriptor: descriptor } : {}),
      files: files.map((f) => f.rel),
      ignores,
      manifest,
      ...(resolved.resolvedDigest ? { resolvedDigest: resolved.resolvedDigest } : {}),
      candidates,
      chosen,
      found,
      signsTheseFiles: (other) => signsFiles(other, manifest, files),
    });

    // ---- placement (src/placement): keep a model placed earlier, else stage → verify → swap → receipt last ----
    const placement = await Placement.open(into, { refuseNonEmpty: !opts.replace, ...(opts.receiptPath ? { receiptPath: opts.receiptPath } : {}) });
    try {
      const kept = await checkPlaced(placement, manifest, chosen.verified.rootDigest, ignores);
      if (kept.placed) {
        const facts = await step('policy', () => runChecks(staged(placement.target, kept.files), trust));
        const sizes = new Map(kept.files.map((f) => [f.rel, f.size]));
        const receipt = buildReceipt(opts, resolved, manifest, chosen, wanted, sizes, placement.target, facts);
        const receiptPath = await writeReceipt(opts, receipt, placement.receiptPath, placement.receiptTree);
        return { receipt, receiptPath, placedAt: placement.target, alreadyPlaced: true };
      }
      const staging = await placement.stage();
      try {
        await staging.assertRoom(wanted.reduce((n, w) => n + (w.size ?? 0), 0));
        const actual = await step('download+hash', () => fetchIntoStaging(source, staging, manifest, wanted, opts));
        annotateDecision({ bytes: [...actual.sizes.values()].reduce((n, b) => n + b, 0) });
        assertReportClean(compareResources(manifest, actual.resources, { ignoreUnsignedFiles: false }));
        const stagedFiles = wanted.map((w) => ({ rel: w.path, abs: staging.pathFor(w.path), size: actual.sizes.get(w.path) ?? 0 }));
        const facts = await step('policy', () => runChecks(staged(staging.dir, stagedFiles), trust));
        return await step('placement', async () => {
          const placedAt = await staging.commit();
          const receipt = buildReceipt(opts, resolved, manifest, chosen, wanted, actual.sizes, placedAt, facts);
          const delivery = await receiptDelivery(source, actual.cached);
          if (delivery) receipt.delivery = delivery;
          return { receipt, receiptPath: await writeReceipt(opts, receipt, placement.receiptPath, placement.receiptTree), placedAt };
        });
      } catch (err) {
        await staging.discard();
        throw fsError(err, staging.dir, 'write the model into');
      }
    } finally {
      await placement.release();
    }
  } catch (err) {
    // Whatever surfaced while unwinding (AbortError, a reset), the reason is the abort's.
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  } finally {
    await source.close();
  }
}

/**
 * The receipt (never inside `verifiedTree`; undefined for a mount point's hidden receipt), and its
 * signature when asked; returns its path.
 */
async function writeReceipt(opts: PullOptions, receipt: Receipt, receiptPath: string, verifiedTree: string | undefined): Promise<string> {
  await writeReceiptFile(receiptPath, JSON.stringify(receipt, null, 2) + '\n', verifiedTree);
  if (opts.receiptSigner) await writeReceiptFile(receiptBundlePath(receiptPath), await signReceipt(receipt, opts.receiptSigner), verifiedTree);
  return receiptPath;
}

async function fetchIntoStaging(
  source: ModelSource,
  staging: Staging,
  manifest: Manifest,
  wanted: SourceEntry[],
  opts: PullOptions,
): Promise<{ resources: Resource[]; sizes: Map<string, number>; cached: string[] }> {
  const s = manifest.serialization;
  const expected = new Map(manifest.resources.map((r) => [r.name, r.digest]));
  const pending = new Set(wanted.map((w) => w.path));
  const resources: Resource[] = [];
  const sizes = new Map<string, number>();
  const hashers = new FollowHasherPool();
  let cache: CacheSession | undefined;
  const progress = opts.progress;
  progress?.begin('download', wanted.length, wanted.reduce((n, w) => n + (w.size ?? 0), 0));
  const sink = async (file: IncomingFile): Promise<void> => {
    if (!pending.has(file.path)) {
      file.stream.destroy();
      throw new ModelsealError('FILE_UNSIGNED', `source delivered ${JSON.stringify(file.path)}, which was not asked for (or twice)`);
    }
    pending.delete(file.path);
    const dest = staging.pathFor(file.path);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    // Download on this thread, hash on a worker that follows the staging file as it grows.
    const followed = hashers.follow(dest, s.hashType, s.method === 'shards' ? (s.shardSize ?? 0) : 0);
    const writer = new FollowedWriter(dest, followed, progress ? (n) => progress.add(n) : undefined);
    let got: Resource[];
    try {
      progress?.transferStarted();
      try {
        await pipeline(file.stream, writer, { signal: opts.signal });
      } catch (err) {
        followed.abort();
        throw err;
      } finally {
        progress?.transferEnded();
      }
      got = resourcesOf(file.path, s.method, s.hashType, await followed.finish(writer.bytes));
      // Fail fast on the first wrong file rather than after the whole model has downloaded.
      for (const r of got) {
        const want = expected.get(r.name);
        if (want !== undefined && want !== r.digest) {
          throw new ModelsealError('DIGEST_MISMATCH', `digest mismatch: ${r.name} (got ${s.hashType}:${r.digest}, signed ${want})`, {
            details: { mismatched: [r.name], expected: want, actual: r.digest },
          });
        }
      }
    } catch (err) {
      // Leave nothing behind: a source with another endpoint (a mirror failed) may deliver it again.
      await rm(dest, { force: true });
      pending.add(file.path);
      throw err;
    }
    await cache?.admit(file.path, dest);
    resources.push(...got);
    sizes.set(file.path, writer.bytes);
    progress?.fileDone();
  };
  try {
    // The cache places (and re-hashes) what it holds; only the rest is fetched.
    cache = await opts.cache?.session(manifest, wanted, (rel) => staging.pathFor(rel), opts.signal);
    for (const h of cache?.hits ?? []) {
      pending.delete(h.path);
      resources.push(h.resource);
      sizes.set(h.path, h.size);
    }
    const rest = cache ? cache.misses : wanted;
    if (rest.length > 0) await source.fetch(rest, sink, { concurrency: opts.concurrency ?? 4, signal: opts.signal, callerVerifiesContent: true });
  } finally {
    await hashers.close();
    await cache?.release();
    progress?.end();
  }
  if (pending.size > 0) throw new ModelsealError('FILE_MISSING', `source did not deliver: ${[...pending].slice(0, 5).join(', ')}`);
  return { resources, sizes, cached: (cache?.hits ?? []).map((h) => h.path) };
}

function buildReceipt(
  opts: PullOptions,
  resolved: ResolvedSource,
  manifest: Manifest,
  chosen: VerifiedCandidate,
  wanted: Array<Pick<SourceEntry, 'path' | 'facts'>>,
  sizes: Map<string, number>,
  placedAt: string,
  facts: CheckFacts,
): Receipt {
  const s = manifest.serialization;
  const { verified, candidate, bytes } = chosen;
  const wholeFileSha = s.method === 'files' && s.hashType === 'sha256';
  const digestOf = new Map(manifest.resources.map((r) => [r.name, r.digest]));
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
      bundle: Buffer.from(bytes).toString('utf8'),
      bundleSha256: createHash('sha256').update(bytes).digest('hex'),
    },
    signer: verified.signer,
    ...(opts.trust.policy ? { policy: opts.trust.policy } : {}),
    ...facts,
  };
}

