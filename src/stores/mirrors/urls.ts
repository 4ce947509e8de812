import { ModelsealError } from '../../errors.js';

/**
 * The API root for a mirror URL as containerd builds it: `<url path>/v2`, or the path itself
 * when `override_path` says the URL already is the API root. Only http(s), no credentials in it.
 */
export function apiRootOf(url: string, overridePath: boolean): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ModelsealError('CONFIG_INVALID', `mirror URL ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ModelsealError('CONFIG_INVALID', `mirror URL ${url} must be http:// or https://`);
  if (u.username || u.password) throw new ModelsealError('CONFIG_INVALID', `mirror URL ${u.host} must not embed credentials; use the auth file`);
  if (u.search || u.hash) throw new ModelsealError('CONFIG_INVALID', `mirror URL ${url} must not have a query or fragment`);
  const p = u.pathname.replace(/\/+$/, '');
  const root = overridePath || p.endsWith('/v2') ? p : `${p}/v2`;
  return `${u.origin}${root}`;
}

export function hostOfUrl(url: string): string {
  return new URL(url).host;
}

/** Go `time.ParseDuration` for the forms hosts.toml uses (`1s`, `200ms`, `1m30s`); ms, or undefined. */
export function parseGoDuration(s: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  if (s === '0') return 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]!]!;
    i = re.lastIndex;
  }
  return i > 0 ? total : undefined;
}
