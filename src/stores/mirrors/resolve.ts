import { ModelsealError } from '../../errors.js';
import { parseOciReference, type OciReference } from '../oci/reference.js';
import { containerdMirrors } from './hosts-toml.js';
import { registriesConfMirrors } from './registries-conf.js';
import { apiRootOf, hostOfUrl } from './urls.js';
import type { MirrorHost, MirrorSettings } from './types.js';

/** `--mirror <host>=<url>`: `host` is the registry as the reference names it (or `_default` for any). */
export function parseMirrorFlag(v: string): { registry: string; url: string } {
  const eq = v.indexOf('=');
  if (eq <= 0 || eq === v.length - 1) throw new ModelsealError('USAGE', `--mirror takes <registry host>=<mirror URL>, got ${JSON.stringify(v)}`);
  const registry = v.slice(0, eq);
  const url = v.slice(eq + 1);
  if (registry !== '_default') parseOciReference(`oci://${registry}/x`);
  apiRootOf(url, false);
  return { registry, url };
}

/**
 * The mirrors for one reference, in the order they are tried: `--mirror` flags, then
 * containerd hosts.toml, then registries.conf. The origin always comes after all of them.
 * Each mirror's repository name is checked with the same grammar as a reference.
 */
export async function mirrorsFor(ref: OciReference, s: MirrorSettings | undefined): Promise<MirrorHost[]> {
  if (!s) return [];
  const out: MirrorHost[] = [];
  for (const f of s.flags ?? []) {
    if (f.registry !== ref.registry && f.registry !== '_default') continue;
    const apiRoot = apiRootOf(f.url, false);
    const host = hostOfUrl(apiRoot);
    out.push({
      apiRoot, registry: host, repository: ref.repository, capabilities: new Set(['pull']), from: '--mirror',
      ...(host !== ref.registry && ref.registry !== 'docker.io' ? { ns: ref.registry } : {}),
    });
  }
  if (s.hostsDir) out.push(...(await containerdMirrors(s.hostsDir, ref)));
  if (s.registriesConf) out.push(...(await registriesConfMirrors(s.registriesConf, { ...ref, byDigest: ref.digest !== undefined })));
  for (const m of out) {
    try {
      parseOciReference(`oci://${m.registry}/${m.repository}`);
    } catch (err) {
      throw new ModelsealError('CONFIG_INVALID', `mirror ${m.apiRoot} (${m.from}) gives an invalid repository "${m.repository}"`, { cause: err });
    }
  }
  // The same endpoint named twice is tried once.
  const seen = new Set<string>();
  return out.filter((m) => {
    const k = `${m.apiRoot}|${m.repository}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
