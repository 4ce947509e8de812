import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { deviceFlowToken, type DeviceFlowOptions } from './oidc-device-flow.js';
import { credentialUrl, isRecord, requestJson } from './oidc-http.js';

/** Where the keyless signer's OIDC token came from (logged; never the token itself). */
export type TokenSource = 'flag' | 'device-flow' | 'environment' | 'github-actions' | 'buildkite' | 'circleci';

/** Claims read from the token WITHOUT verifying it: for messages and logs only. Fulcio verifies. */
export interface UnverifiedClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp?: number;
  /** GitHub Actions: `ORG/REPO/.github/workflows/release.yml@refs/tags/v1`, the basis of Fulcio's SAN. */
  job_workflow_ref?: string;
  /** GitLab CI: `gitlab.com/GROUP/PROJECT//.gitlab-ci.yml@refs/heads/main`, the basis of Fulcio's SAN. */
  ci_config_ref_uri?: string;
}

export interface IdentityToken {
  token: string;
  source: TokenSource;
  claims: UnverifiedClaims;
}

export interface ResolveOptions {
  /** --identity-token: always wins. */
  explicit?: string;
  /** --oidc-device: a person at this terminal asked to sign in (only then is a browser flow tried). */
  device?: DeviceFlowOptions;
  env?: NodeJS.ProcessEnv;
  /** Fulcio's public-good audience; a private Fulcio may configure another. */
  audience?: string;
}

const MAX_TOKEN = 16 * 1024;
const COMMAND_TIMEOUT_MS = 30_000;

/**
 * The OIDC token for keyless signing, in this order: --identity-token; --oidc-device (asked for
 * explicitly); $SIGSTORE_ID_TOKEN (cosign's variable, and how GitLab CI `id_tokens` deliver it);
 * GitHub Actions' token endpoint; Buildkite's and CircleCI's token commands. sigstore-js's
 * CIContextProvider covers part of this but races the providers with Promise.any and folds every
 * failure into "CI: no tokens available", so a refused request (a missing `id-token: write`)
 * would be indistinguishable from not being in CI; each provider here fails with its own reason.
 */
export async function resolveIdentityToken(o: ResolveOptions = {}): Promise<IdentityToken> {
  const env = o.env ?? process.env;
  const audience = o.audience ?? 'sigstore';
  if (o.explicit !== undefined) return checked(o.explicit, 'flag', '--identity-token');
  if (o.device) return checked(await deviceFlowToken(o.device), 'device-flow', 'the device-flow ID token');
  if (env.SIGSTORE_ID_TOKEN) return checked(env.SIGSTORE_ID_TOKEN, 'environment', '$SIGSTORE_ID_TOKEN');
  if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    return checked(await githubActionsToken(env.ACTIONS_ID_TOKEN_REQUEST_URL, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN, audience), 'github-actions', 'the GitHub Actions ID token', audience);
  }
  if (env.GITHUB_ACTIONS === 'true') {
    throw unavailable('GitHub Actions did not offer an ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job `permissions: id-token: write` (pull requests from forks never get one)');
  }
  if (env.GITLAB_CI === 'true') {
    throw unavailable('GitLab CI job has no $SIGSTORE_ID_TOKEN: add `id_tokens: { SIGSTORE_ID_TOKEN: { aud: sigstore } }` to the job');
  }
  if (env.BUILDKITE === 'true') {
    return checked(await commandToken(env, 'buildkite-agent', ['oidc', 'request-token', '--audience', audience]), 'buildkite', 'the Buildkite OIDC token', audience);
  }
  if (env.CIRCLECI === 'true') {
    return checked(await commandToken(env, 'circleci', ['run', 'oidc', 'get', '--claims', JSON.stringify({ aud: audience })]), 'circleci', 'the CircleCI OIDC token', audience);
  }
  throw unavailable(
    'keyless signing needs an OIDC identity token: pass --identity-token or set $SIGSTORE_ID_TOKEN, run in GitHub Actions (permissions: id-token: write), GitLab CI (id_tokens: SIGSTORE_ID_TOKEN), Buildkite or CircleCI, or sign in from a terminal with --oidc-device',
  );
}

/**
 * GitHub's protocol: GET the request URL with `audience` added and the request token as bearer;
 * the answer is `{"value": "<jwt>"}`. The request token is a credential: https only.
 */
export async function githubActionsToken(requestUrl: string, requestToken: string, audience: string): Promise<string> {
  const url = credentialUrl(requestUrl, 'ACTIONS_ID_TOKEN_REQUEST_URL');
  url.searchParams.set('audience', audience);
  const answer = await requestJson(url, { headers: { Accept: 'application/json', Authorization: `bearer ${requestToken}` } }, 'GitHub Actions ID token request');
  if (answer.status === 401 || answer.status === 403) {
    throw unavailable(`GitHub Actions refused the ID token request (HTTP ${answer.status}): check the job's \`permissions: id-token: write\``);
  }
  if (answer.status !== 200) throw unavailable(`GitHub Actions ID token request answered HTTP ${answer.status}`);
  if (!isRecord(answer.json) || typeof answer.json.value !== 'string') throw unavailable('GitHub Actions ID token answer has no string "value"');
  return answer.json.value;
}

/** Run a CI agent's token command (found on PATH, never through a shell) and take its stdout. */
async function commandToken(env: NodeJS.ProcessEnv, command: string, args: string[]): Promise<string> {
  const file = await onPath(command, env.PATH ?? '');
  if (!file) throw unavailable(`${command} is not on PATH, so no OIDC token can be requested in this job`);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(file, args, { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: MAX_TOKEN, windowsHide: true }, (err, out) => {
      // stderr is not echoed: agents may print request details there.
      if (err) reject(unavailable(`${command} ${args.slice(0, 3).join(' ')} failed (${err.code ?? err.signal ?? 'error'})`));
      else resolve(out);
    });
  });
  return stdout.trim();
}

async function onPath(command: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue; // a relative PATH entry would run whatever the build left in the checkout
    const file = path.join(dir, command);
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}

/**
 * Shape checks that turn a useless token into a one-line reason here rather than an opaque Fulcio
 * 401. `audience` is checked only for tokens we requested for that audience.
 */
function checked(token: string, source: TokenSource, what: string, audience?: string): IdentityToken {
  const claims = unverifiedClaims(token, what);
  if (audience !== undefined && !claims.aud.includes(audience)) {
    throw unavailable(`${what} is for audience ${JSON.stringify(claims.aud.join(','))}, not ${JSON.stringify(audience)}`);
  }
  if (claims.exp !== undefined && claims.exp * 1000 <= Date.now()) {
    throw unavailable(`${what} expired at ${new Date(claims.exp * 1000).toISOString()}`);
  }
  return { token, source, claims };
}

/** Decode a JWT's claims without verifying its signature (Fulcio does that). Never echoes the token. */
export function unverifiedClaims(token: string, what = 'the OIDC token'): UnverifiedClaims {
  const bad = (why: string): never => {
    throw unavailable(`${what} is not a JWT (${why})`);
  };
  if (token.length > MAX_TOKEN) bad(`longer than ${MAX_TOKEN} characters`);
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) bad('expected three base64url parts');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    bad('claims are not JSON');
  }
  if (!isRecord(payload)) return bad('claims are not an object');
  const { iss, sub, aud, exp } = payload;
  if (typeof iss !== 'string' || iss === '') bad('no "iss" claim');
  if (typeof sub !== 'string' || sub === '') bad('no "sub" claim');
  const audList = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : bad('"aud" is not a string or a list of strings');
  if (exp !== undefined && typeof exp !== 'number') bad('"exp" is not a number');
  const claims: UnverifiedClaims = { iss: iss as string, sub: sub as string, aud: audList };
  if (typeof exp === 'number') claims.exp = exp;
  if (typeof payload.job_workflow_ref === 'string') claims.job_workflow_ref = payload.job_workflow_ref;
  if (typeof payload.ci_config_ref_uri === 'string') claims.ci_config_ref_uri = payload.ci_config_ref_uri;
  return claims;
}

/**
 * The certificate SAN Fulcio will issue for these claims, for the log line before signing: GitHub
 * Actions → the workflow ref URL; GitLab → the CI config ref URI; otherwise the subject (email
 * issuers put the verified email there). The certificate itself is what verification trusts.
 */
export function expectedIdentity(claims: UnverifiedClaims): string {
  if (claims.iss === 'https://token.actions.githubusercontent.com' && claims.job_workflow_ref) return `https://github.com/${claims.job_workflow_ref}`;
  if (claims.ci_config_ref_uri) return `https://${claims.ci_config_ref_uri}`;
  return claims.sub;
}

function unavailable(message: string): ModelsealError {
  return new ModelsealError('IDENTITY_TOKEN_UNAVAILABLE', message);
}
