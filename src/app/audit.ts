import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, type ExitCodeValue, exitCodeFor, isModelsealError, ModelsealError, oneLine } from '../errors.js';
import type { HashPool } from '../hashing/pool.js';
import { compareResources, resourcePath } from '../model/compare.js';
import { manifestForListing } from '../model/plan.js';
import { isConventionalIgnore, modelScope, SIGNATURE_FILE } from '../model/scope.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import type { Manifest, Resource } from '../model/types.js';
import { listModelFiles } from '../model/walk.js';
import type { Receipt } from '../placement/receipt.js';
import { verifyReceiptSignature } from '../placement/receipt-signature.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import { parseBundle } from '../signatures/oms/bundle.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';

/**
 * Offline audit of a deployed model against its receipt. The receipt is a pointer, not a
 * witness: what is compared comes from the signed bundle it carries (the signer's files, digests
 * and ignore list), and every receipt field must agree with that bundle. Only a receipt signed by
 * a trusted party (`receiptSignature`) proves anything of its own. Every check runs even after one
 * fails, so the report is complete.
 */
export interface AuditOptions {
  /** The deployed model directory (may differ from `receipt.placedAt`: audits run elsewhere). */
  dir: string;
  receipt: Receipt;
  receiptPath: string;
  authorities: Authority[];
  ignoreUnsignedFiles?: boolean;
  /** Require the receipt itself to be signed by one of these (its bundle beside it). */
  receiptSignature?: { bundle: Uint8Array; authorities: Authority[] };
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
  /** Present when the receipt's own signature was checked. */
  receiptSigner?: SignerIdentity;
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

  // 0. A signed receipt: exactly these bytes, from a party the auditor trusts.
  let receiptSigner: SignerIdentity | undefined;
  if (opts.receiptSignature) {
    try {
      receiptSigner = await verifyReceiptSignature(receipt, opts.receiptSignature.bundle, opts.receiptSignature.authorities);
    } catch (err) {
      note(err, 0);
    }
  }

  // 1. The bundle the receipt carries, re-verified under today's trust. Its signed manifest is
  //    the reference for everything below, whether or not it verifies (then the audit fails anyway).
  const bundle = Buffer.from(receipt.signature.bundle, 'utf8');
  let signed: Manifest | undefined;
  let signedRoot: string | undefined;
  let verified: Awaited<ReturnType<typeof verifyModelSignature>> | undefined;
  let signatureReason: string | undefined;
  if (createHash('sha256').update(bundle).digest('hex') !== receipt.signature.bundleSha256) {
    signatureReason = 'the recorded bundle does not hash to the recorded bundleSha256 (receipt edited)';
    note(new ModelsealError('BUNDLE_INVALID', signatureReason), 0);
  }
  try {
    const parsed = parseBundle(bundle);
    signed = parsed.statement.manifest;
    signedRoot = parsed.statement.rootDigest;
    verified = await verifyModelSignature(bundle, opts.authorities);
  } catch (err) {
    signatureReason ??= oneLine(err);
    note(err, 0);
  }

  // 2. The deployed files, in the signer's scope: its ignore list (not the entries that only
  //    describe its working tree: git metadata, model.sig — a placed model never holds them), and
  //    the bundle itself when it sits in the tree as model.sig (byte-identical, so nothing else
  //    can hide under that name).
  const files = { checked: 0, changed: [] as string[], missing: [] as string[], extra: [] as string[], ignoredExtra: [] as string[] };
  let matchesReceipt = false;
  if (signed) {
    try {
      const scope = modelScope({ signed: signed.serialization.ignorePaths.filter((p) => !isConventionalIgnore(p)) });
      let listed = await listModelFiles(opts.dir, { allowSymlinks: false, ignorePaths: scope.ignores });
      const sigFile = listed.find((f) => f.rel === SIGNATURE_FILE);
      if (sigFile && sigFile.size === bundle.length && (await readFile(sigFile.abs)).equals(bundle)) listed = listed.filter((f) => f !== sigFile);
      const seen = manifestForListing(signed, listed.map((f) => f.rel));

      // 3. Every receipt field that restates the bundle must agree with it.
      const recorded: Manifest = { modelName: receipt.model.name, serialization: receipt.model.serialization, resources: receipt.model.resources };
      const why = manifestDifference(seen, recorded, signedRoot, receipt.model.rootDigest);
      if (why) note(new ModelsealError('MANIFEST_INCONSISTENT', `the receipt does not record what its signature signs: ${why}`), 1);
      else matchesReceipt = true;

      const s = seen.serialization;
      const actual = await hashModelFiles(listed, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE, opts.pool);
      const report = compareResources(seen, actual, { ignoreUnsignedFiles: opts.ignoreUnsignedFiles ?? false });
      const toPath = (r: string) => resourcePath({ name: r, algorithm: s.hashType, digest: '' }, s.method);
      const signedSet = new Set(seen.resources.map((r) => resourcePath(r, s.method)));
      const present = new Set(listed.map((f) => f.rel));
      const changed = new Set(report.mismatched.map(toPath));
      // In shard mode a grown or shrunk file shows as extra or missing shards of a signed file: it changed.
      for (const p of report.extra.map(toPath)) if (signedSet.has(p)) changed.add(p);
      for (const p of report.missing.map(toPath)) if (present.has(p)) changed.add(p);
      files.checked = report.checked;
      files.changed = [...changed].sort();
      files.missing = [...new Set(report.missing.map(toPath))].filter((p) => !present.has(p)).sort();
      files.extra = [...new Set(report.extra.map(toPath))].filter((p) => !signedSet.has(p)).sort();
      files.ignoredExtra = report.ignoredExtra;
      if (files.changed.length > 0) note(new ModelsealError('DIGEST_MISMATCH', `changed since placement: ${list(files.changed)}`), 2);
      if (files.missing.length > 0) note(new ModelsealError('FILE_MISSING', `missing since placement: ${list(files.missing)}`), 3);
      if (files.extra.length > 0) note(new ModelsealError('FILE_UNSIGNED', `added since placement: ${list(files.extra)}`), 3);
    } catch (err) {
      note(err, 2);
    }
  }

  problems.sort((a, b) => a.rank - b.rank);
  const first = problems[0]?.error;
  return {
    ok: problems.length === 0,
    dir: path.resolve(opts.dir),
    receipt: path.resolve(opts.receiptPath),
    reference: receipt.reference,
    ...(receipt.resolvedDigest ? { resolvedDigest: receipt.resolvedDigest } : {}),
    ...(signedRoot ? { rootDigest: signedRoot } : {}),
    recordedSigner: receipt.signer,
    ...(verified ? { signer: verified.signer } : {}),
    signature: { verified: verified !== undefined, matchesReceipt, ...(signatureReason ? { reason: signatureReason } : {}) },
    ...(receiptSigner ? { receiptSigner } : {}),
    files,
    ...(first ? { code: first.code, reason: problems.map((p) => oneLine(p.error)).join('; ') } : {}),
    exitCode: first ? exitCodeFor(first) : ExitCode.OK,
  };
}

function list(xs: string[]): string {
  return xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
}

/** Why a receipt's restatement differs from the signed manifest (order-insensitive), or undefined. */
export function manifestDifference(signed: Manifest, recorded: Manifest, signedRoot?: string, recordedRoot?: string): string | undefined {
  if (signedRoot !== recordedRoot) return `root digest ${recordedRoot ?? '(none)'} recorded, ${signedRoot ?? '(none)'} signed`;
  const a = signed.serialization;
  const b = recorded.serialization;
  if (a.method !== b.method || a.hashType !== b.hashType || (a.shardSize ?? 0) !== (b.shardSize ?? 0)) {
    return `serialization ${b.method}/${b.hashType} recorded, ${a.method}/${a.hashType} signed`;
  }
  const ignored = (xs: readonly string[]) => JSON.stringify([...xs].sort());
  if (ignored(a.ignorePaths) !== ignored(b.ignorePaths)) return `ignore paths ${ignored(b.ignorePaths)} recorded, ${ignored(a.ignorePaths)} signed`;
  const key = (r: Resource) => `${r.name}\u0000${r.digest}`;
  const want = new Set(signed.resources.map(key));
  const have = new Set(recorded.resources.map(key));
  const onlySigned = [...want].filter((k) => !have.has(k)).map((k) => k.split('\u0000')[0]!);
  const onlyRecorded = [...have].filter((k) => !want.has(k)).map((k) => k.split('\u0000')[0]!);
  if (onlySigned.length + onlyRecorded.length === 0 && want.size === signed.resources.length && have.size === recorded.resources.length) return undefined;
  return `resources differ (${[...onlySigned, ...onlyRecorded].slice(0, 5).join(', ') || 'duplicates'})`;
}
