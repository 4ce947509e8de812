import { setTimeout as sleep } from 'node:timers/promises';
import { ModelsealError } from '../../errors.js';
import { credentialUrl, isRecord, requestJson } from './oidc-http.js';

export interface DeviceFlowOptions {
  /** OIDC issuer, e.g. https://oauth2.sigstore.dev/auth (public-good Sigstore's Dex). */
  issuer: string;
  clientId: string;
  /** Shows the person the URL and code (stderr at a terminal). */
  prompt: (text: string) => void;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.2: 5 s when the issuer names no interval. A floor keeps a zero interval from spinning. */
const DEFAULT_INTERVAL_S = 5;
const MIN_INTERVAL_S = 1;
/** A sign-in nobody completes should not hold a terminal (or a forgotten job) forever. */
const MAX_WAIT_S = 15 * 60;

/**
 * OAuth 2.0 device authorization grant (RFC 8628) against the issuer's discovered endpoints:
 * show a URL and a code, poll the token endpoint until the person approves, return the ID token.
 * Only ever started by an explicit flag at a terminal (the caller checks the TTY).
 */
export async function deviceFlowToken(o: DeviceFlowOptions): Promise<string> {
  const { deviceEndpoint, tokenEndpoint } = await discover(o.issuer);
  const form = (fields: Record<string, string>): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });
  const auth = await requestJson(deviceEndpoint, form({ client_id: o.clientId, scope: 'openid email' }), 'device authorization request');
  if (auth.status !== 200 || !isRecord(auth.json)) throw refused(`device authorization request answered HTTP ${auth.status}${oauthError(auth.json)}`);
  const { device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval } = auth.json;
  if (typeof device_code !== 'string' || device_code === '') throw refused('device authorization answer has no device_code');
  // The code and URL are printed to a terminal: printable ASCII only, so an issuer cannot inject escapes.
  if (typeof user_code !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(user_code)) throw refused('device authorization answer has no printable user_code');
  if (typeof verification_uri !== 'string') throw refused('device authorization answer has no verification_uri');
  const page = credentialUrl(typeof verification_uri_complete === 'string' ? verification_uri_complete : verification_uri, 'verification_uri');
  if (typeof expires_in !== 'number' || !(expires_in > 0)) throw refused('device authorization answer has no positive expires_in');
  let wait = typeof interval === 'number' && interval >= 0 ? Math.max(interval, MIN_INTERVAL_S) : DEFAULT_INTERVAL_S;
  o.prompt(`To sign, open ${page.href} and confirm the code ${user_code} (waiting up to ${Math.round(Math.min(expires_in, MAX_WAIT_S) / 60)} min)`);

  const deadline = Date.now() + Math.min(expires_in, MAX_WAIT_S) * 1000;
  while (Date.now() < deadline) {
    await sleep(wait * 1000);
    const got = await requestJson(tokenEndpoint, form({ grant_type: GRANT, device_code, client_id: o.clientId }), 'device token request');
    if (got.status === 200) {
      if (!isRecord(got.json) || typeof got.json.id_token !== 'string') throw refused('token endpoint answered without an id_token');
      return got.json.id_token;
    }
    const error = isRecord(got.json) ? got.json.error : undefined;
    // RFC 8628 §3.5: pending keeps polling; slow_down adds 5 s to the interval for good.
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      wait += 5;
      continue;
    }
    if (error === 'access_denied') throw refused('sign-in was denied at the issuer');
    if (error === 'expired_token') throw refused('the device code expired before sign-in completed');
    throw refused(`token endpoint answered HTTP ${got.status}${oauthError(got.json)}`);
  }
  throw refused('the device code expired before sign-in completed');
}

/** OIDC Discovery §4.3: the document's issuer must be the one asked for, exactly. */
async function discover(issuer: string): Promise<{ deviceEndpoint: URL; tokenEndpoint: URL }> {
  const base = credentialUrl(issuer, '--oidc-issuer');
  const wellKnown = new URL(`${base.href.replace(/\/$/, '')}/.well-known/openid-configuration`);
  const doc = await requestJson(wellKnown, { headers: { accept: 'application/json' } }, 'OIDC discovery');
  if (doc.status !== 200 || !isRecord(doc.json)) throw refused(`OIDC discovery at ${wellKnown.href} answered HTTP ${doc.status}`);
  if (doc.json.issuer !== issuer) throw refused(`OIDC discovery names issuer ${JSON.stringify(doc.json.issuer)}, not ${JSON.stringify(issuer)}`);
  const { device_authorization_endpoint: device, token_endpoint: token } = doc.json;
  if (typeof device !== 'string') throw refused(`issuer ${issuer} offers no device authorization endpoint`);
  if (typeof token !== 'string') throw refused(`issuer ${issuer} offers no token endpoint`);
  return { deviceEndpoint: credentialUrl(device, 'device_authorization_endpoint'), tokenEndpoint: credentialUrl(token, 'token_endpoint') };
}

function oauthError(json: unknown): string {
  const e = isRecord(json) ? json.error : undefined;
  return typeof e === 'string' && /^[\x20-\x7e]{1,64}$/.test(e) ? ` (${e})` : '';
}

function refused(message: string): ModelsealError {
  return new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', message);
}
