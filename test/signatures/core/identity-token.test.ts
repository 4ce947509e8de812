import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedIdentity, resolveIdentityToken, unverifiedClaims } from '../../../src/signatures/core/identity-token.js';
import { fakeIdentityToken } from '../../helpers/mock-sigstore.js';
import { githubRequestUrl, githubTokenEndpoint, json, serve, type Endpoint } from '../../helpers/oidc-endpoints.js';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW_REF = 'acme/models/.github/workflows/release.yml@refs/tags/v1.2.0';
const ghToken = (extra: Record<string, unknown> = {}) =>
  fakeIdentityToken('repo:acme/models:ref:refs/tags/v1.2.0', GITHUB, { job_workflow_ref: WORKFLOW_REF, ...extra });

let github: Endpoint;
let answerWith: (audience: string | null) => string | undefined = (aud) => (aud === 'sigstore' ? ghToken() : undefined);
beforeAll(async () => {
  github = await githubTokenEndpoint('req-secret', (aud) => answerWith(aud));
});
afterAll(async () => {
  await github?.close();
});

const ghEnv = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  GITHUB_ACTIONS: 'true',
  ACTIONS_ID_TOKEN_REQUEST_URL: githubRequestUrl(github.url),
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req-secret',
  ...over,
});

describe('GitHub Actions ambient token', () => {
  it('requests audience sigstore with the bearer request token and names the workflow identity', async () => {
    answerWith = (aud) => (aud === 'sigstore' ? ghToken() : undefined);
    const before = github.seen.length;
    const got = await resolveIdentityToken({ env: ghEnv() });
    expect(got.source).toBe('github-actions');
    expect(got.claims.iss).toBe(GITHUB);
    expect(expectedIdentity(got.claims)).toBe(`https://github.com/${WORKFLOW_REF}`);
    const req = github.seen.slice(before);
    expect(req).toHaveLength(1);
    expect(req[0]!.method).toBe('GET');
    expect(req[0]!.url.searchParams.get('api-version')).toBe('2.0');
    expect(req[0]!.url.searchParams.getAll('audience')).toEqual(['sigstore']);
    expect(req[0]!.headers.authorization).toBe('bearer req-secret');
  });

  it('a refused request (no id-token: write) is IDENTITY_TOKEN_UNAVAILABLE, exit 2, naming the permission', async () => {
    answerWith = () => undefined;
    const err = await resolveIdentityToken({ env: ghEnv() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', exitCode: 2 });
    expect((err as Error).message).toMatch(/HTTP 403.*id-token: write/);
  });

  it('a wrong request token (401) is refused too, and the token is never echoed', async () => {
    const err = await resolveIdentityToken({ env: ghEnv({ ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong-secret' }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE' });
    expect((err as Error).message).toContain('HTTP 401');
    expect((err as Error).message).not.toContain('wrong-secret');
  });

  it('GITHUB_ACTIONS without the request URL says to grant id-token: write', async () => {
    await expect(resolveIdentityToken({ env: { GITHUB_ACTIONS: 'true' } })).rejects.toMatchObject({
      code: 'IDENTITY_TOKEN_UNAVAILABLE',
      message: expect.stringContaining('permissions: id-token: write'),
    });
  });

  it('rejects a token minted for another audience, an expired token and a non-JWT value', async () => {
    answerWith = () => ghToken({ aud: 'https://github.com/acme' });
    await expect(resolveIdentityToken({ env: ghEnv() })).rejects.toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', message: expect.stringContaining('audience') });
    answerWith = () => ghToken({ exp: Math.floor(Date.now() / 1000) - 60 });
    await expect(resolveIdentityToken({ env: ghEnv() })).rejects.toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', message: expect.stringContaining('expired') });
    answerWith = () => 'not-a-jwt';
    await expect(resolveIdentityToken({ env: ghEnv() })).rejects.toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', message: expect.stringContaining('not a JWT') });
  });

  it('rejects hostile answers: not JSON, no value, oversized', async () => {
    const answers = [
      { status: 200, body: '<html>sign in</html>', contentType: 'text/html' },
      json(200, { count: 0 }),
      json(200, { value: 'x'.repeat(100 * 1024) }),
    ];
    for (const a of answers) {
      const ep = await serve(() => a);
      try {
        await expect(resolveIdentityToken({ env: ghEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: `${ep.url}/t?x=1` }) })).rejects.toMatchObject({
          code: 'IDENTITY_TOKEN_UNAVAILABLE',
        });
      } finally {
        await ep.close();
      }
    }
  });

  it('retries a failing endpoint, then reports NETWORK (exit 7)', async () => {
    const ep = await serve(() => ({ status: 503, body: 'busy' }));
    try {
      await expect(resolveIdentityToken({ env: ghEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: `${ep.url}/t?x=1` }) })).rejects.toMatchObject({ code: 'NETWORK', exitCode: 7 });
      expect(ep.seen).toHaveLength(3);
    } finally {
      await ep.close();
    }
  });

  it('never sends the request token over plain http to a non-loopback host', async () => {
    await expect(resolveIdentityToken({ env: ghEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://actions.example/t?x=1' }) })).rejects.toMatchObject({
      code: 'IDENTITY_TOKEN_UNAVAILABLE',
      message: expect.stringContaining('https'),
    });
  });
});

describe('other sources and their order', () => {
  it('--identity-token wins over everything; $SIGSTORE_ID_TOKEN over the GitHub endpoint', async () => {
    const flag = fakeIdentityToken('alice@example.com', 'https://accounts.example');
    const envTok = fakeIdentityToken('bob@example.com', 'https://accounts.example');
    await expect(resolveIdentityToken({ explicit: flag, env: ghEnv({ SIGSTORE_ID_TOKEN: envTok }) })).resolves.toMatchObject({ source: 'flag', token: flag });
    const before = github.seen.length;
    await expect(resolveIdentityToken({ env: ghEnv({ SIGSTORE_ID_TOKEN: envTok }) })).resolves.toMatchObject({ source: 'environment', token: envTok });
    expect(github.seen.length).toBe(before);
  });

  it('GitLab CI: SIGSTORE_ID_TOKEN from id_tokens, identity from ci_config_ref_uri; missing says how to add it', async () => {
    const tok = fakeIdentityToken('project_path:acme/models:ref_type:tag:ref:v1.2.0', 'https://gitlab.com', {
      ci_config_ref_uri: 'gitlab.com/acme/models//.gitlab-ci.yml@refs/tags/v1.2.0',
    });
    const got = await resolveIdentityToken({ env: { GITLAB_CI: 'true', SIGSTORE_ID_TOKEN: tok } });
    expect(expectedIdentity(got.claims)).toBe('https://gitlab.com/acme/models//.gitlab-ci.yml@refs/tags/v1.2.0');
    await expect(resolveIdentityToken({ env: { GITLAB_CI: 'true' } })).rejects.toMatchObject({
      code: 'IDENTITY_TOKEN_UNAVAILABLE',
      message: expect.stringContaining('id_tokens'),
    });
  });

  it('no token anywhere: one line listing every way to get one, exit 2', async () => {
    const err = await resolveIdentityToken({ env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', exitCode: 2 });
    expect((err as Error).message).toMatch(/--identity-token.*SIGSTORE_ID_TOKEN.*GitHub Actions.*GitLab CI.*--oidc-device/);
  });

  it('rejects malformed explicit tokens without echoing them', async () => {
    for (const bad of ['abc', 'a.b', `${Buffer.from('{}').toString('base64url')}.${Buffer.from('[1]').toString('base64url')}.c`, 'a.@@@.c']) {
      const err = await resolveIdentityToken({ explicit: bad, env: {} }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE' });
      if (bad.length > 3) expect((err as Error).message).not.toContain(bad);
    }
    expect(() => unverifiedClaims(fakeIdentityToken('', 'https://i.example'))).toThrow(/"sub"/);
    expect(() => unverifiedClaims(fakeIdentityToken('s', 'https://i.example', { aud: 7 }))).toThrow(/"aud"/);
  });
});

describe('CI agent token commands on PATH', () => {
  let bin: string;
  beforeAll(async () => {
    bin = await mkdtemp(path.join(os.tmpdir(), 'ms-oidc-bin-'));
  });
  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });
  // Stand-ins for the agents' CLIs: they print a token only for exactly the documented arguments.
  async function agent(name: string, expectedArgs: string, token: string): Promise<void> {
    const file = path.join(bin, name);
    await writeFile(file, `#!/bin/sh\n[ "$*" = '${expectedArgs}' ] || { echo "unexpected: $*" >&2; exit 3; }\nprintf '%s\\n' '${token}'\n`);
    await chmod(file, 0o755);
  }

  it('Buildkite: buildkite-agent oidc request-token --audience sigstore', async () => {
    const tok = fakeIdentityToken('organization:acme:pipeline:models:ref:refs/tags/v1', 'https://agent.buildkite.com');
    await agent('buildkite-agent', 'oidc request-token --audience sigstore', tok);
    await expect(resolveIdentityToken({ env: { BUILDKITE: 'true', PATH: bin } })).resolves.toMatchObject({ source: 'buildkite', token: tok });
  });

  it('CircleCI: circleci run oidc get --claims {"aud":"sigstore"}', async () => {
    const tok = fakeIdentityToken('org/o/project/p/user/u', 'https://oidc.circleci.com/org/o');
    await agent('circleci', 'run oidc get --claims {"aud":"sigstore"}', tok);
    await expect(resolveIdentityToken({ env: { CIRCLECI: 'true', PATH: bin } })).resolves.toMatchObject({ source: 'circleci', token: tok });
  });

  it('a failing agent command, a missing one, or a relative PATH entry gives a clear error', async () => {
    await agent('buildkite-agent', 'never these arguments', 'x');
    await expect(resolveIdentityToken({ env: { BUILDKITE: 'true', PATH: bin } })).rejects.toMatchObject({
      code: 'IDENTITY_TOKEN_UNAVAILABLE',
      message: expect.stringContaining('buildkite-agent oidc request-token --audience failed'),
    });
    await expect(resolveIdentityToken({ env: { CIRCLECI: 'true', PATH: path.join(bin, 'nothing-here') } })).rejects.toMatchObject({
      message: expect.stringContaining('circleci is not on PATH'),
    });
    await expect(resolveIdentityToken({ env: { CIRCLECI: 'true', PATH: path.relative(process.cwd(), bin) } })).rejects.toMatchObject({
      message: expect.stringContaining('circleci is not on PATH'),
    });
  });
});
