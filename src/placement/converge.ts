import { compareResources } from '../model/compare.js';
import { DEFAULT_SHARD_SIZE, hashModelFiles } from '../model/serialize.js';
import type { Manifest } from '../model/types.js';
import { listModelFiles } from '../model/walk.js';
import { readReceipt } from './receipt-file.js';
import type { Placement } from './staging.js';

/**
 * Convergence for restarted pods: a target that already holds the model asked for (placed by an
 * earlier run, its receipt beside it) is re-verified where it lies instead of downloaded again.
 * The receipt is only a hint (it names the root digest, so another model is replaced without
 * hashing it); the decision comes from hashing every file against the signature just verified.
 */
export type PlacedCheck = { placed: true; files: Array<{ rel: string; abs: string; size: number }> } | { placed: false; why: string };

/** `ignores`: the model scope's ignore paths (signed ignores, git paths, signature files). */
export async function checkPlaced(placement: Placement, manifest: Manifest, rootDigest: string | undefined, ignores: readonly string[]): Promise<PlacedCheck> {
  const entries = await placement.modelEntries();
  if (entries.length === 0) return { placed: false, why: 'the target is empty' };
  const receipt = await readReceipt(placement.receiptPath).catch(() => undefined);
  if (!receipt) return { placed: false, why: 'the target holds files without a readable receipt' };
  if (receipt.placedAt !== placement.target) return { placed: false, why: `the receipt describes ${receipt.placedAt}` };
  if (rootDigest !== undefined && receipt.model.rootDigest !== rootDigest) {
    return { placed: false, why: `the target holds another model (root digest ${receipt.model.rootDigest ?? 'unknown'})` };
  }
  const s = manifest.serialization;
  const ignorePaths = [...new Set([...ignores, ...(await placement.hiddenEntries())])];
  let files;
  try {
    files = await listModelFiles(placement.target, { allowSymlinks: false, ignorePaths });
  } catch (err) {
    return { placed: false, why: `the target cannot be re-verified (${(err as Error).message})` };
  }
  const actual = await hashModelFiles(files, s.method, s.hashType, s.shardSize ?? DEFAULT_SHARD_SIZE);
  const report = compareResources(manifest, actual, { ignoreUnsignedFiles: false });
  const bad = report.mismatched.length + report.missing.length + report.extra.length;
  if (bad > 0) return { placed: false, why: `the placed files differ from the signature (${bad} changed, missing or extra)` };
  return { placed: true, files: files.map((f) => ({ rel: f.rel, abs: f.abs, size: f.size })) };
}
