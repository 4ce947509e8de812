import { ModelsealError } from '../../errors.js';
import type { RegistryCredential } from './credentials.js';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate` (RFC 7235 auth-params, quoted strings may hold commas). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(h);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null) {
    if (p[0].length === 0) break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

export function basicHeader(c: RegistryCredential): string | undefined {
  if ('password' in c) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  return undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Bearer tokens per (realm, service, scope); a push scope also satisfies pull. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (Date.now() >= t.expiresAt) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  set(key: string, token: string, expiresInSec: number): void {
    // Renew 10 s early so a token does not expire between check and use.
    const life = Math.max(1, (Number.isFinite(expiresInSec) && expiresInSec > 0 ? expiresInSec : 60) - 10);
    this.tokens.set(key, { token, expiresAt: Date.now() + life * 1000 });
  }
}

export interface TokenResponse {
  token: string;
  expiresIn: number;
}

/** Validates a token endpoint reply (docker token spec: `token` or `access_token`, `expires_in`). */
export function parseTokenResponse(body: unknown): TokenResponse {
  if (!body || typeof body !== 'object') throw new ModelsealError('AUTH_FAILED', 'token endpoint returned no JSON object');
  const b = body as Record<string, unknown>;
  const token = typeof b.token === 'string' && b.token ? b.token : typeof b.access_token === 'string' ? b.access_token : '';
  if (!token) throw new ModelsealError('AUTH_FAILED', 'token endpoint returned no token');
  if (/[\r\n]/.test(token)) throw new ModelsealError('AUTH_FAILED', 'token endpoint returned a malformed token');
  const expiresIn = typeof b.expires_in === 'number' ? b.expires_in : 60;
  return { token, expiresIn };
}
