import { ModelsealError } from '../errors.js';
import { resourceHashType } from '../hashing/algorithms.js';
import { parseShardName } from './names.js';
import type { Manifest, Resource } from './types.js';

export interface ComparisonReport {
  missing: string[];
  extra: string[];
  mismatched: string[];
  /** Unsigned files skipped because the caller allowed it. */
  ignoredExtra: string[];
  checked: number;
}

/** The file a resource covers: its name (`files`) or the path part of `<path>:<start>:<end>`. */
export function resourcePath(r: Resource, method: Manifest['serialization']['method']): string {
  return method === 'shards' ? parseShardName(r.name).path : r.name;
}

/** Files the signed manifest names, with the size it implies for shards (max end). */
export function signedFiles(m: Manifest): Map<string, { size?: number }> {
  const out = new Map<string, { size?: number }>();
  for (const r of m.resources) {
    if (m.serialization.method === 'shards') {
      const s = parseShardName(r.name);
      const prev = out.get(s.path)?.size ?? 0;
      out.set(s.path, { size: Math.max(prev, s.end) });
    } else {
      out.set(r.name, {});
    }
  }
  return out;
}

/**
 * Compare what was signed with what was hashed. Names must match exactly (a shard list that
 * differs in one range is a mismatch), algorithms must be the predicate's, and unsigned whole
 * files may be skipped only when the caller says so — an extra shard of a signed file never is.
 */
export function compareResources(signed: Manifest, actual: Resource[], opts: { ignoreUnsignedFiles: boolean }): ComparisonReport {
  const method = signed.serialization.method;
  const want = new Map<string, Resource>();
  for (const r of signed.resources) {
    if (resourceHashType(r.algorithm) !== signed.serialization.hashType) {
      throw new ModelsealError('PAYLOAD_INVALID', `resource ${JSON.stringify(r.name)} uses ${r.algorithm} but the predicate says ${signed.serialization.hashType}`);
    }
    if (want.has(r.name)) throw new ModelsealError('PAYLOAD_INVALID', `resource ${JSON.stringify(r.name)} is listed twice`);
    want.set(r.name, r);
  }
  const signedPaths = new Set([...want.values()].map((r) => resourcePath(r, method)));
  const report: ComparisonReport = { missing: [], extra: [], mismatched: [], ignoredExtra: [], checked: 0 };
  const seen = new Set<string>();
  for (const r of actual) {
    const expected = want.get(r.name);
    if (!expected) {
      const p = resourcePath(r, method);
      if (!signedPaths.has(p) && opts.ignoreUnsignedFiles) report.ignoredExtra.push(p);
      else report.extra.push(r.name);
      continue;
    }
    seen.add(r.name);
    report.checked++;
    if (expected.digest !== r.digest) report.mismatched.push(r.name);
  }
  for (const name of want.keys()) if (!seen.has(name)) report.missing.push(name);
  report.ignoredExtra = [...new Set(report.ignoredExtra)];
  return report;
}

/** Turn a report into the one error that explains it best (content before file set). */
export function assertReportClean(report: ComparisonReport): void {
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
  if (report.mismatched.length > 0) {
    throw new ModelsealError('DIGEST_MISMATCH', `digest mismatch: ${list(report.mismatched)}`, { details: { mismatched: report.mismatched } });
  }
  if (report.missing.length > 0) {
    throw new ModelsealError('FILE_MISSING', `signed file missing: ${list(report.missing)}`, { details: { missing: report.missing } });
  }
  if (report.extra.length > 0) {
    throw new ModelsealError('FILE_UNSIGNED', `unsigned file present: ${list(report.extra)} (use --ignore-unsigned-files to skip unsigned files)`, {
      details: { extra: report.extra },
    });
  }
}
