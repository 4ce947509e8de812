import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { oneLine } from '../../errors.js';
import { logger } from '../../log.js';
import { apiRootOf, hostOfUrl, parseGoDuration } from './urls.js';
import type { MirrorCapability, MirrorHost } from './types.js';

/**
 * containerd's registry host configuration (`config_path`, docs/hosts.md), read the way
 * containerd reads it: for registry `H[:P]` the first directory that exists among `H_P_/`,
 * `H:P/` and `_default/` under each config root in order; its `hosts.toml` lists mirrors
 * (`[host."<url>"]`, tried in file order) and an optional `server` (the upstream, last).
 *
 * As in containerd, a file that does not parse or names an unknown capability is ignored as a
 * whole (logged): mirrors unused, never a failed pull. Hosts that need a client certificate or
 * `skip_verify = true` are skipped (logged): modelseal never turns TLS verification off.
 */

const KNOWN_CAPABILITIES = new Set(['pull', 'resolve', 'push', 'referrers']);

/** containerd `hostDirectory`: the last ':' becomes '_' and a trailing '_' is added. */
function hostDirectory(host: string): string {
  const i = host.lastIndexOf(':');
  return i > 0 ? `${host.slice(0, i)}_${host.slice(i + 1)}_` : host;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** The host directory containerd would use for `registry`, or undefined. */
export async function hostDir(configPath: string, registry: string): Promise<string | undefined> {
  for (const root of configPath.split(':').filter(Boolean)) {
    const candidates = [...new Set([hostDirectory(registry), registry, '_default'])];
    for (const c of candidates) {
      const p = path.join(root, c);
      if (await exists(p)) return p;
    }
  }
  return undefined;
}

interface HostTable {
  capabilities?: unknown;
  ca?: unknown;
  client?: unknown;
  skip_verify?: unknown;
  override_path?: unknown;
  header?: unknown;
  dial_timeout?: unknown;
}

class Ignored extends Error {}

function strings(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new Ignored(`${what} must be a string or an array of strings`);
}

function capabilities(v: unknown): Set<MirrorCapability> | 'none-for-pull' {
  // Omitted: every capability (containerd's default).
  if (v === undefined) return new Set(['pull', 'resolve']);
  const list = strings(v, 'capabilities');
  for (const c of list) if (!KNOWN_CAPABILITIES.has(c)) throw new Ignored(`unknown capability "${c}"`);
  const out = new Set(list.filter((c): c is MirrorCapability => c === 'pull' || c === 'resolve'));
  return out.has('pull') ? out : 'none-for-pull';
}

function hostFrom(
  url: string, t: HostTable, file: string, ref: { registry: string; repository: string },
): MirrorHost | undefined {
  const caps = capabilities(t.capabilities);
  if (caps === 'none-for-pull') return undefined;
  if (t.skip_verify === true) {
    logger().warn({ file, host: url }, 'hosts.toml: skip_verify is not honoured (TLS is always verified); mirror skipped');
    return undefined;
  }
  if (t.client !== undefined) {
    logger().warn({ file, host: url }, 'hosts.toml: client certificates are not supported; mirror skipped');
    return undefined;
  }
  const withScheme = url.includes('://') ? url : `https://${url}`;
  const apiRoot = apiRootOf(withScheme, t.override_path === true);
  const headers: Record<string, string> = {};
  if (t.header !== undefined) {
    if (!t.header || typeof t.header !== 'object' || Array.isArray(t.header)) throw new Ignored('header must be a table');
    for (const [k, v] of Object.entries(t.header as Record<string, unknown>)) headers[k.toLowerCase()] = strings(v, `header ${k}`).join(', ');
  }
  const dial = t.dial_timeout === undefined ? undefined : typeof t.dial_timeout === 'string' ? parseGoDuration(t.dial_timeout) : undefined;
  if (t.dial_timeout !== undefined && dial === undefined) throw new Ignored(`dial_timeout ${JSON.stringify(t.dial_timeout)} is not a duration`);
  const host = hostOfUrl(apiRoot);
  const cas = strings(t.ca, 'ca').map((c) => path.resolve(path.dirname(file), c));
  return {
    apiRoot,
    registry: host,
    repository: ref.repository,
    capabilities: caps,
    ...(host !== ref.registry && ref.registry !== 'docker.io' ? { ns: ref.registry } : {}),
    ...(cas.length ? { caFiles: cas } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(dial !== undefined ? { dialTimeoutMs: dial } : {}),
    from: `hosts.toml ${file}`,
  };
}

/**
 * The mirrors containerd would use for a pull from `ref.registry`, in order: each `[host]`
 * with the `pull` capability, then `server` when it is not the registry itself.
 */
export async function containerdMirrors(configPath: string, ref: { registry: string; apiHost: string; repository: string }): Promise<MirrorHost[]> {
  const dir = await hostDir(configPath, ref.registry);
  if (!dir) return [];
  const file = path.join(dir, 'hosts.toml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return []; // a directory of certificate files only
  }
  try {
    const doc = parse(text) as { server?: unknown; host?: unknown } & HostTable;
    const out: MirrorHost[] = [];
    if (doc.host !== undefined) {
      if (!doc.host || typeof doc.host !== 'object' || Array.isArray(doc.host)) throw new Ignored('host must be a table of tables');
      // TOML tables keep file order in the parsed object: containerd tries hosts in that order.
      for (const [url, t] of Object.entries(doc.host as Record<string, unknown>)) {
        if (!t || typeof t !== 'object' || Array.isArray(t)) throw new Ignored(`host "${url}" must be a table`);
        const h = hostFrom(url, t as HostTable, file, ref);
        if (h) out.push(h);
      }
    }
    if (doc.server !== undefined) {
      if (typeof doc.server !== 'string') throw new Ignored('server must be a string');
      // The top-level table configures the server (capabilities, ca, header, override_path).
      const s = hostFrom(doc.server, doc, file, ref);
      if (s && s.registry !== ref.apiHost) out.push(s);
    }
    return out;
  } catch (err) {
    logger().warn({ file, reason: oneLine(err) }, 'hosts.toml ignored as containerd would ignore it (failed to decode); no mirrors from it');
    return [];
  }
}
