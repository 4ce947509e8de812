import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { ModelsealError, oneLine } from '../../errors.js';
import { logger } from '../../log.js';
import { apiRootOf } from './urls.js';
import type { MirrorHost } from './types.js';

/**
 * containers-registries.conf(5) v2, as CRI-O, podman and skopeo read it: the main file, then
 * drop-ins `registries.conf.d/*.conf` beside it in name order (a later `[[registry]]` with the
 * same prefix replaces the earlier one); the `[[registry]]` whose `prefix` is the longest match
 * of `host/repository` (a leading `*.` matches any subdomain) applies; its mirrors are tried in
 * order, then the primary location.
 *
 * Unlike hosts.toml, podman refuses to pull with a broken registries.conf, and so does modelseal
 * (CONFIG_INVALID): a `blocked = true` registry, a `location` that moves the origin elsewhere
 * (modelseal pulls tags and signatures only from the reference's own registry), or bad syntax.
 */

interface MirrorTable {
  location?: unknown;
  insecure?: unknown;
  'pull-from-mirror'?: unknown;
}

interface RegistryTable {
  prefix?: unknown;
  location?: unknown;
  insecure?: unknown;
  blocked?: unknown;
  'mirror-by-digest-only'?: unknown;
  mirror?: unknown;
}

function invalid(file: string, why: string): never {
  throw new ModelsealError('CONFIG_INVALID', `${file}: ${why}`);
}

async function loadTables(file: string): Promise<Array<{ table: RegistryTable; file: string }>> {
  const files = [file];
  const dropIns = path.join(path.dirname(file), 'registries.conf.d');
  const names = await readdir(dropIns).catch(() => [] as string[]);
  for (const n of names.filter((n) => n.endsWith('.conf')).sort()) files.push(path.join(dropIns, n));
  const byPrefix = new Map<string, { table: RegistryTable; file: string }>();
  for (const f of files) {
    let doc: Record<string, unknown>;
    try {
      doc = parse(await readFile(f, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      invalid(f, `cannot read registries.conf: ${oneLine(err)}`);
    }
    if (doc.registries !== undefined) invalid(f, 'registries.conf v1 ([registries.*]) has no mirrors; use the v2 [[registry]] format');
    if (doc.registry === undefined) continue;
    if (!Array.isArray(doc.registry)) invalid(f, '[[registry]] must be an array of tables');
    for (const t of doc.registry as RegistryTable[]) {
      const prefix = t.prefix ?? t.location;
      if (typeof prefix !== 'string' || prefix === '') invalid(f, '[[registry]] needs a prefix or a location');
      byPrefix.set(prefix, { table: t, file: f });
    }
  }
  return [...byPrefix.values()];
}

/** Does `prefix` match `name` (`host/repo`) as containers/image matches it? Returns the match length. */
function matchLength(prefix: string, name: string): number {
  if (prefix.startsWith('*.')) {
    const host = name.split('/')[0]!;
    return host.endsWith(prefix.slice(1)) && host.length > prefix.length - 1 ? prefix.length : -1;
  }
  if (name === prefix) return prefix.length;
  // A prefix matches at a path boundary (or before a tag/digest), never mid-component.
  return name.startsWith(prefix) && (name[prefix.length] === '/' || prefix.endsWith('/')) ? prefix.length : -1;
}

/**
 * The mirrors podman would try for `registry/repository`, in order. `byDigest` says whether the
 * user pinned a digest (`pull-from-mirror` and `mirror-by-digest-only` depend on it).
 */
export async function registriesConfMirrors(file: string, ref: { registry: string; repository: string; byDigest: boolean }): Promise<MirrorHost[]> {
  const tables = await loadTables(file);
  const name = `${ref.registry}/${ref.repository}`;
  let best: { table: RegistryTable; file: string; prefix: string } | undefined;
  let bestLen = -1;
  for (const t of tables) {
    const prefix = (t.table.prefix ?? t.table.location) as string;
    const n = matchLength(prefix, name);
    if (n > bestLen) {
      bestLen = n;
      best = { ...t, prefix };
    }
  }
  if (!best) return [];
  const { table: t, file: f, prefix } = best;
  if (t.blocked === true) throw new ModelsealError('CONFIG_INVALID', `${f}: registry ${prefix} is blocked (blocked = true)`);
  const location = t.location ?? prefix;
  if (typeof location !== 'string') invalid(f, `location of ${prefix} must be a string`);
  if (location !== prefix && !prefix.startsWith('*.')) {
    invalid(f, `registry ${prefix} is rewritten to ${location}; modelseal does not follow origin rewrites — name ${location} in the reference`);
  }
  const digestOnly = t['mirror-by-digest-only'] === true;
  if (t.mirror === undefined) return [];
  if (!Array.isArray(t.mirror)) invalid(f, `mirror of ${prefix} must be an array of tables`);
  // The part of the name below the prefix is appended to each mirror location.
  const rest = prefix.startsWith('*.') ? name.slice(name.indexOf('/')) : name.slice(prefix.length);
  const out: MirrorHost[] = [];
  for (const m of t.mirror as MirrorTable[]) {
    if (typeof m.location !== 'string' || m.location === '') invalid(f, `a mirror of ${prefix} has no location`);
    const pfm = m['pull-from-mirror'] ?? 'all';
    if (pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only') invalid(f, `pull-from-mirror must be all, digest-only or tag-only`);
    const applies = digestOnly ? ref.byDigest : pfm === 'all' || (pfm === 'digest-only') === ref.byDigest;
    if (!applies) {
      logger().debug({ mirror: m.location, pullFromMirror: pfm }, 'registries.conf mirror not used for this reference form');
      continue;
    }
    const full = `${m.location.replace(/\/+$/, '')}${rest}`;
    const slash = full.indexOf('/');
    if (slash <= 0) invalid(f, `mirror ${m.location} for ${prefix} leaves no repository name`);
    const host = full.slice(0, slash);
    const repository = full.slice(slash + 1).replace(/^\/+/, '');
    // `insecure = true` allows plain HTTP: modelseal then speaks HTTP to that mirror.
    const scheme = m.insecure === true ? 'http' : 'https';
    out.push({
      apiRoot: apiRootOf(`${scheme}://${host}`, false),
      registry: host,
      repository,
      capabilities: new Set(['pull']),
      from: `registries.conf ${f}`,
    });
  }
  return out;
}
