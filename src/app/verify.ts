import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import type { HashPool } from '../hashing/pool.js';
import { assertReportClean, compareResources, resourcePath, type ComparisonReport } from '../model/compare.js';
import { manifestForListing, planFetch } from '../model/plan.js';
import { modelScope, type ModelScope, type ScopeParts } from '../model/scope.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import type { Manifest } from '../model/types.js';
import { listModelFiles, type ModelFile } from '../model/walk.js';
import type { SignatureCandidate } from '../signatures/candidate.js';
import { runChecks, type CheckFacts, type StagedModel } from '../trust/checks/index.js';
import { chooseSignature, sameResources, verifyOmsSignatures, type Found, type VerifiedCandidate } from '../trust/select.js';
import type { TrustDecision } from '../trust/types.js';
import { annotateDecision, step } from '../telemetry/tracing.js';

/**
 * The one verify pipeline for a model already on disk — `verify`, `init` verify-in-place, a
 * converging pod restart, `audit` — with the same signature selection, scope, comparison and
 * policy checks as a pull: verify the signatures, choose the one that signs these files, hash
 * every file, compare, run the checks.
 */
export interface InPlaceRequest {
  /** A model directory, or a single model file. */
  path: string;
  candidates: readonly SignatureCandidate[];
  trust: TrustDecision;
  /** What the caller adds to the scope beyond the signer's ignore list (local trees only). */
  local?: Omit<ScopeParts, 'signed'>;
  /** Decide whether a file is a signature rather than model content, given the chosen bundle's bytes. */
  isSignatureFile?: (rel: string, bundle: Uint8Array) => Promise<boolean>;
  resolvedDigest?: string;
  /** The OCI manifest the signatures came with (for Notation). */
  manifestDescriptor?: StagedModel['manifestDescriptor'];
  allowSymlinks?: boolean;
  pool?: HashPool;
}

export interface InPlaceResult {
  chosen: VerifiedCandidate;
  found: Found;
  /** The chosen signature's manifest as seen against these files. */
  manifest: Manifest;
  report: ComparisonReport;
  /** Every file listed in scope (signed, and unsigned ones the caller chose to ignore). */
  files: ModelFile[];
  /** The files the signature covers. */
  modelFiles: ModelFile[];
  scope: ModelScope;
  facts: CheckFacts;
}

function scopeFor(v: VerifiedCandidate, local: InPlaceRequest['local']): ModelScope {
  return modelScope({ ...local, signed: v.verified.manifest.serialization.ignorePaths });
}

export async function verifyInPlace(req: InPlaceRequest): Promise<InPlaceResult> {
  const st = await stat(req.path).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('NOT_FOUND', `model path ${req.path} does not exist (${err.code})`);
  });
  const isDir = st.isDirectory();
  const found = await step('signature', () => verifyOmsSignatures(req.candidates, req.trust.authorities));
  const ignoreUnsigned = req.trust.requirements.ignoreUnsignedFiles;

  // Candidate by candidate: the first verified signature whose files fit this tree is the one.
  const listings = new Map<VerifiedCandidate, { files: ModelFile[]; scope: ModelScope; manifest: Manifest }>();
  for (const v of found.verified) {
    const scope = scopeFor(v, req.local);
    let files = isDir
      ? await listModelFiles(req.path, { allowSymlinks: req.allowSymlinks ?? false, ignorePaths: scope.ignores })
      : await listModelFiles(req.path, { allowSymlinks: false, ignorePaths: [] });
    if (req.isSignatureFile) {
      const keep: ModelFile[] = [];
      for (const f of files) if (!(await req.isSignatureFile(f.rel, v.bytes))) keep.push(f);
      files = keep;
    }
    // A single-file signature checked against its directory names the file by the model name (trap T5).
    const m = v.verified.manifest;
    const dotOnly = m.resources.every((r) => r.name === '.' || r.name.startsWith('.:'));
    const names = isDir && dotOnly ? [m.modelName] : files.map((f) => f.rel);
    listings.set(v, { files, scope, manifest: manifestForListing(m, names) });
  }
  const { chosen, fitted } = chooseSignature(found, (v) => {
    const l = listings.get(v)!;
    planFetch(l.manifest, l.files.map((f) => ({ path: f.rel, size: f.size })), ignoreUnsigned);
    return l;
  });

  const s = fitted.manifest.serialization;
  annotateDecision({ signer: chosen.verified.signer.identity, ...(chosen.verified.rootDigest ? { digest: `sha256:${chosen.verified.rootDigest}` } : {}), bytes: fitted.files.reduce((n, f) => n + f.size, 0) });
  const actual = await step('download+hash', () => hashModelFiles(fitted.files, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE, req.pool));
  const report = compareResources(fitted.manifest, actual, { ignoreUnsignedFiles: ignoreUnsigned });
  assertReportClean(report);

  const signedPaths = new Set(fitted.manifest.resources.map((r) => resourcePath(r, s.method)));
  const modelFiles = fitted.files.filter((f) => signedPaths.has(f.rel));
  const dir = isDir ? req.path : path.dirname(req.path);
  const staged: StagedModel = {
    dir,
    files: modelFiles.map((f) => f.rel),
    ignores: isDir ? fitted.scope.ignores : [],
    manifest: fitted.manifest,
    ...(req.resolvedDigest ? { resolvedDigest: req.resolvedDigest } : {}),
    ...(req.manifestDescriptor ? { manifestDescriptor: req.manifestDescriptor } : {}),
    candidates: req.candidates,
    chosen,
    found,
    signsTheseFiles: (other) => signsFiles(other, fitted.manifest, modelFiles, req.pool),
  };
  const facts = await step('policy', () => runChecks(staged, req.trust));
  return { chosen, found, manifest: fitted.manifest, report, files: fitted.files, modelFiles, scope: fitted.scope, facts };
}

/**
 * Whether `other` signs exactly these files: by comparison when it uses the same serialization,
 * else by hashing the files its way (a threshold signer may have used shards or BLAKE2).
 */
export async function signsFiles(other: Manifest, placed: Manifest, files: ModelFile[], pool?: HashPool): Promise<boolean> {
  const seen = manifestForListing(other, files.map((f) => f.rel));
  if (sameResources(seen, placed)) return true;
  const s = seen.serialization;
  if (s.method === placed.serialization.method && s.hashType === placed.serialization.hashType && (s.shardSize ?? 0) === (placed.serialization.shardSize ?? 0)) {
    return false;
  }
  const actual = await hashModelFiles(files, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE, pool);
  const r = compareResources(seen, actual, { ignoreUnsignedFiles: false });
  return r.missing.length + r.extra.length + r.mismatched.length === 0;
}
