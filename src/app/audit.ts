import { createHash } from 'node:crypto';
import path from 'node:path';
import { ExitCode, type ExitCodeValue, exitCodeFor, isModelsealError, ModelsealError, oneLine } from '../errors.js';
import type { HashPool } from '../hashing/pool.js';
import { compareResources, resourcePath } from '../model/compare.js';
import { GIT_IGNORE_PATHS } from '../model/names.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import type { Manifest, Resource } from '../model/types.js';
import { listModelFiles } from '../model/walk.js';
import type { Receipt } from '../placement/receipt.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';
import { mapSingleFileNames } from './verify.js';

/**
 * Offline audit of a deployed model against its receipt: the recorded bundle must still verify
 * under the auditor's trust, must sign exactly what the receipt records, and the files on disk
 * must hash to it now. Every check runs even after one fails, so the report is complete.
 */
export interface AuditOptions {
  /** The deployed model directory (may differ from `receipt.placedAt`: audits run elsewhere). */
  dir: string;
  receipt: Receipt;
  receiptPath: string;
  authorities: Authority[];
  ignoreUnsignedFiles?: boolean;
  pool?: HashPool;
}

export interface AuditReport {
  ok: boolean;
  dir: string;
  receipt: string;
  reference: string;
  resolvedDigest?: string;
  rootDigest?: string;
  /** The signer the receipt records, and the one the bundle verifies to now (when it does). */
  recordedSigner: SignerIdentity;
  signer?: SignerIdentity;
  signature: { verified: boolean; matchesReceipt: boolean; reason?: string };
  files: { checked: number; changed: string[]; missing: string[]; extra: string[]; ignoredExtra: string[] };
  code?: string;
  exitCode: ExitCodeValue;
  reason?: string;
}

interface Problem {
  error: ModelsealError;
  rank: number;
}

export async function auditDeployment(opts: AuditOptions): Promise<AuditReport> {
  const { receipt } = opts;
  const problems: Problem[] = [];
  const note = (err: unknown, rank: number) =>
    problems.push({ error: isModelsealError(err) ? err : new ModelsealError('INTERNAL', oneLine(err), { cause: err }), rank });

  // 1. The bundle the receipt recorded, re-verified under today's trust.
  const bundle = Buffer.from(receipt.signature.bundle, 'utf8');
  let verified: Awaited<ReturnType<typeof verifyModelSignature>> | undefined;
  let signatureReason: string | undefined;
  if (createHash('sha256').update(bundle).digest('hex') !== receipt.signature.bundleSha256) {
    signatureReason = 'the recorded bundle does not hash to the recorded bundleSha256 (receipt edited)';
    note(new ModelsealError('BUNDLE_INVALID', signatureReason), 0);
  } else {
    try {
      verified = await verifyModelSignature(bundle, opts.authorities);
    } catch (err) {
      signatureReason = oneLine(err);
      note(err, 0);
    }
  }

  // 2. The receipt must record exactly what the bundle signs (else its file list proves nothing).
  const recorded: Manifest = { modelName: receipt.model.name, serialization: receipt.model.serialization, resources: receipt.model.resources };
  let matchesReceipt = false;
  if (verified) {
    const onlyFile = receipt.model.files.length === 1 ? receipt.model.files[0]!.path : undefined;
    const signed = onlyFile ? mapSingleFileNames(verified.manifest, onlyFile) : verified.manifest;
    const why = manifestDifference(signed, recorded, verified.rootDigest, receipt.model.rootDigest);
    if (why) note(new ModelsealError('MANIFEST_INCONSISTENT', `the receipt does not record what its signature signs: ${why}`), 1);
    else matchesReceipt = true;
  }

  // 3. The deployed bytes, re-hashed now, against the recorded (and, if step 2 passed, signed) resources.
  const files = { checked: 0, changed: [] as string[], missing: [] as string[], extra: [] as string[], ignoredExtra: [] as string[] };
  try {
    const s = receipt.model.serialization;
    const listed = await listModelFiles(opts.dir, { allowSymlinks: false, ignorePaths: auditIgnores(receipt) });
    const actual = await hashModelFiles(listed, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE, opts.pool);
    const report = compareResources(recorded, actual, { ignoreUnsignedFiles: opts.ignoreUnsignedFiles ?? false });
    const toPath = (r: string) => resourcePath({ name: r, algorithm: s.hashType, digest: '' }, s.method);
    const recordedSet = new Set(recorded.resources.map((r) => resourcePath(r, s.method)));
    const present = new Set(listed.map((f) => f.rel));
    const changed = new Set(report.mismatched.map(toPath));
    // In shard mode a grown or shrunk file shows as extra or missing shards of a recorded file: it changed.
    for (const p of report.extra.map(toPath)) if (recordedSet.has(p)) changed.add(p);
    for (const p of report.missing.map(toPath)) if (present.has(p)) changed.add(p);
    const sizes = new Map(listed.map((f) => [f.rel, f.size]));
    for (const f of receipt.model.files) {
      const now = sizes.get(f.path);
      if (now !== undefined && now !== f.size) changed.add(f.path);
    }
    files.checked = report.checked;
    files.changed = [...changed].sort();
    files.missing = [...new Set(report.missing.map(toPath))].filter((p) => !present.has(p)).sort();
    files.extra = [...new Set(report.extra.map(toPath))].filter((p) => !recordedSet.has(p)).sort();
    files.ignoredExtra = report.ignoredExtra;
    if (files.changed.length > 0) note(new ModelsealError('DIGEST_MISMATCH', `changed since placement: ${list(files.changed)}`), 2);
    if (files.missing.length > 0) note(new ModelsealError('FILE_MISSING', `missing since placement: ${list(files.missing)}`), 3);
    if (files.extra.length > 0) note(new ModelsealError('FILE_UNSIGNED', `added since placement: ${list(files.extra)}`), 3);
  } catch (err) {
    note(err, 2);
  }

  problems.sort((a, b) => a.rank - b.rank);
  const first = problems[0]?.error;
  return {
    ok: problems.length === 0,
    dir: path.resolve(opts.dir),
    receipt: path.resolve(opts.receiptPath),
    reference: receipt.reference,
    ...(receipt.resolvedDigest ? { resolvedDigest: receipt.resolvedDigest } : {}),
    ...(receipt.model.rootDigest ? { rootDigest: receipt.model.rootDigest } : {}),
    recordedSigner: receipt.signer,
    ...(verified ? { signer: verified.signer } : {}),
    signature: { verified: verified !== undefined, matchesReceipt, ...(signatureReason ? { reason: signatureReason } : {}) },
    files,
    ...(first ? { code: first.code, reason: problems.map((p) => oneLine(p.error)).join('; ') } : {}),
    exitCode: first ? exitCodeFor(first) : ExitCode.OK,
  };
}

function list(xs: string[]): string {
  return xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
}

/** What the placement itself left out: the signer's ignore paths, git files, and an in-tree signature. */
function auditIgnores(receipt: Receipt): string[] {
  const out = [...receipt.model.serialization.ignorePaths, ...GIT_IGNORE_PATHS];
  const origin = receipt.signature.origin;
  if (path.isAbsolute(origin)) {
    const rel = path.relative(path.resolve(receipt.placedAt), origin);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) out.push(rel.split(path.sep).join('/'));
  } else if (origin === 'model.sig') {
    out.push('model.sig');
  }
  return out;
}

/** Why two manifests differ (order-insensitive: verify accepts either resource order), or undefined. */
export function manifestDifference(signed: Manifest, recorded: Manifest, signedRoot?: string, recordedRoot?: string): string | undefined {
  if (signedRoot !== recordedRoot) return `root digest ${recordedRoot ?? '(none)'} recorded, ${signedRoot ?? '(none)'} signed`;
  const a = signed.serialization;
  const b = recorded.serialization;
  if (a.method !== b.method || a.hashType !== b.hashType || (a.shardSize ?? 0) !== (b.shardSize ?? 0)) {
    return `serialization ${b.method}/${b.hashType} recorded, ${a.method}/${a.hashType} signed`;
  }
  const key = (r: Resource) => `${r.name}\u0000${r.digest}`;
  const want = new Set(signed.resources.map(key));
  const have = new Set(recorded.resources.map(key));
  const onlySigned = [...want].filter((k) => !have.has(k)).map((k) => k.split('\u0000')[0]!);
  const onlyRecorded = [...have].filter((k) => !want.has(k)).map((k) => k.split('\u0000')[0]!);
  if (onlySigned.length + onlyRecorded.length === 0 && want.size === signed.resources.length && have.size === recorded.resources.length) return undefined;
  return `resources differ (${[...onlySigned, ...onlyRecorded].slice(0, 5).join(', ') || 'duplicates'})`;
}
