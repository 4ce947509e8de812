import { ModelsealError } from '../errors.js';
import { signedFiles } from './compare.js';
import { assertSafeRelativePath } from './names.js';
import type { Manifest } from './types.js';

/** A file a store lists before any byte moves: what the plan can check up front. */
export interface ListedFile {
  path: string;
  size?: number;
  /** SHA-256 the store's own addressing guarantees (an OCI raw layer digest). */
  sha256?: string;
}

/**
 * Compare a listing with the signed manifest before any weight byte moves: missing files,
 * unsigned extras and (where the store's addressing proves it) wrong digests or sizes are
 * refused here. Returns the entries to fetch, in manifest order.
 */
export function planFetch<E extends ListedFile>(manifest: Manifest, entries: readonly E[], ignoreUnsignedFiles: boolean): E[] {
  const signed = signedFiles(manifest);
  const byPath = new Map<string, E>();
  for (const e of entries) {
    assertSafeRelativePath(e.path, 'source file');
    if (byPath.has(e.path)) throw new ModelsealError('REGISTRY_PROTOCOL', `source lists ${e.path} twice`);
    byPath.set(e.path, e);
  }
  const missing = [...signed.keys()].filter((p) => !byPath.has(p));
  if (missing.length > 0) throw new ModelsealError('FILE_MISSING', `signed file missing from source: ${missing.slice(0, 5).join(', ')}`, { details: { missing } });
  // Shard signatures cannot represent empty files (trap T4): such a file is neither signed nor
  // unsigned bytes. It is not placed, and not an error (the reference verifier accepts it too).
  const shards = manifest.serialization.method === 'shards';
  const extra = [...byPath.values()].filter((e) => !signed.has(e.path) && !(shards && e.size === 0)).map((e) => e.path);
  if (extra.length > 0 && !ignoreUnsignedFiles) {
    throw new ModelsealError('FILE_UNSIGNED', `source has unsigned file: ${extra.slice(0, 5).join(', ')} (use --ignore-unsigned-files to skip them)`, { details: { extra } });
  }
  const s = manifest.serialization;
  const byName = new Map(manifest.resources.map((r) => [r.name, r]));
  const wanted: E[] = [];
  for (const [p, info] of signed) {
    const e = byPath.get(p)!;
    if (s.method === 'files' && s.hashType === 'sha256' && e.sha256 !== undefined && e.sha256 !== byName.get(p)!.digest) {
      throw new ModelsealError('DIGEST_MISMATCH', `${p}: the source's digest sha256:${e.sha256} is not the signed sha256:${byName.get(p)!.digest}`, {
        details: { mismatched: [p], expected: byName.get(p)!.digest, actual: e.sha256 },
      });
    }
    if (info.size !== undefined && e.size !== undefined && e.size !== info.size) {
      throw new ModelsealError('SIZE_MISMATCH', `${p}: the source has ${e.size} bytes but ${info.size} were signed`);
    }
    wanted.push(e);
  }
  return wanted;
}

/**
 * A single-file model is signed under the name `"."` by the reference tool and under its
 * basename by the spec and Go (trap T5). Map `"."` onto the name the file is checked under.
 */
export function mapSingleFileNames(m: Manifest, fileName: string): Manifest {
  const isDot = (n: string) => n === '.' || n.startsWith('.:');
  if (!m.resources.every((r) => isDot(r.name))) return m;
  return { ...m, resources: m.resources.map((r) => ({ ...r, name: fileName + r.name.slice(1) })) };
}

/** The signed manifest as seen against a listing: a lone listed file is what a `"."` signature names (trap T5). */
export function manifestForListing(m: Manifest, paths: readonly string[]): Manifest {
  return paths.length === 1 ? mapSingleFileNames(m, paths[0]!) : m;
}
