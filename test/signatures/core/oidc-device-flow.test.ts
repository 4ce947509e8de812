import { describe, expect, it } from 'vitest';
import { deviceFlowToken } from '../../../src/signatures/core/oidc-device-flow.js';
import { resolveIdentityToken } from '../../../src/signatures/core/identity-token.js';
import { fakeIdentityToken } from '../../helpers/mock-sigstore.js';
import { json, serve, type Answer, type Endpoint, type SeenRequest } from '../../helpers/oidc-endpoints.js';

const ID_TOKEN = fakeIdentityToken('alice@example.com', 'ISSUER-PLACEHOLDER');

interface IssuerScript {
  /** Answers of the token endpoint, one per poll (the last repeats). */
  polls: Answer[];
  device?: (base: string) => Answer;
  discoveryIssuer?: (base: string) => string;
}

/** An OIDC issuer with RFC 8628 endpoints, served on loopback by the test. */
async function issuer(script: IssuerScript): Promise<Endpoint> {
  let poll = 0;
  return serve((req: SeenRequest, base: string) => {
    const issuerUrl = `${base}/auth`;
    if (req.method === 'GET' && req.url.pathname === '/auth/.well-known/openid-configuration') {
      return json(200, {
        issuer: script.discoveryIssuer?.(base) ?? issuerUrl,
        device_authorization_endpoint: `${issuerUrl}/device/code`,
        token_endpoint: `${issuerUrl}/token`,
      });
    }
    if (req.method === 'POST' && req.url.pathname === '/auth/device/code') {
      return script.device?.(base) ?? json(200, { device_code: 'dev-123', user_code: 'WDJB-MJHT', verification_uri: `${issuerUrl}/device`, expires_in: 60, interval: 0 });
    }
    if (req.method === 'POST' && req.url.pathname === '/auth/token') return script.polls[Math.min(poll++, script.polls.length - 1)]!;
    return json(404, { error: 'not_found' });
  });
}

async function run(script: IssuerScript): Promise<{ ep: Endpoint; prompts: string[]; result: Promise<string> }> {
  const ep = await issuer(script);
  const prompts: string[] = [];
  const result = deviceFlowToken({ issuer: `${ep.url}/auth`, clientId: 'sigstore', prompt: (t) => prompts.push(t) });
  result.catch(() => undefined);
  return { ep, prompts, result };
}

describe('OAuth device authorization grant (RFC 8628) against a local issuer', () => {
  it('shows the URL and code, polls through authorization_pending, returns the ID token', async () => {
    const { ep, prompts, result } = await run({ polls: [json(400, { error: 'authorization_pending' }), json(200, { id_token: ID_TOKEN, access_token: 'a' })] });
    try {
      await expect(result).resolves.toBe(ID_TOKEN);
      expect(prompts).toHaveLength(1);
      expect(prompts[0]).toContain(`${ep.url}/auth/device`);
      expect(prompts[0]).toContain('WDJB-MJHT');
      const device = ep.seen.find((r) => r.url.pathname === '/auth/device/code')!;
      expect(Object.fromEntries(new URLSearchParams(device.body))).toEqual({ client_id: 'sigstore', scope: 'openid email' });
      const polls = ep.seen.filter((r) => r.url.pathname === '/auth/token');
      expect(polls).toHaveLength(2);
      expect(Object.fromEntries(new URLSearchParams(polls[0]!.body))).toEqual({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: 'dev-123',
        client_id: 'sigstore',
      });
    } finally {
      await ep.close();
    }
  });

  it('is what resolveIdentityToken uses when --oidc-device asks, even in CI', async () => {
    const tok = fakeIdentityToken('alice@example.com', 'https://issuer.example');
    const ep = await issuer({ polls: [json(200, { id_token: tok })] });
    try {
      await expect(
        resolveIdentityToken({ device: { issuer: `${ep.url}/auth`, clientId: 'sigstore', prompt: () => undefined }, env: { SIGSTORE_ID_TOKEN: fakeIdentityToken('ci', 'https://ci.example') } }),
      ).resolves.toMatchObject({ source: 'device-flow', token: tok });
    } finally {
      await ep.close();
    }
  });

  const refusals: Array<[string, IssuerScript, RegExp]> = [
    ['a denied sign-in', { polls: [json(400, { error: 'access_denied' })] }, /denied/],
    ['an expired device code', { polls: [json(400, { error: 'expired_token' })] }, /expired/],
    ['an unknown token error', { polls: [json(400, { error: 'invalid_client' })] }, /HTTP 400 \(invalid_client\)/],
    ['a token answer without id_token', { polls: [json(200, { access_token: 'a' })] }, /id_token/],
    ['a discovery document for another issuer', { polls: [], discoveryIssuer: () => 'https://evil.example/auth' }, /names issuer/],
    ['a user code with terminal escapes', { polls: [], device: (b) => json(200, { device_code: 'd', user_code: '\u001b]0;pwned\u0007', verification_uri: `${b}/auth/device`, expires_in: 60 }) }, /user_code/],
    ['a verification URL over plain http elsewhere', { polls: [], device: () => json(200, { device_code: 'd', user_code: 'ABCD', verification_uri: 'http://phish.example/device', expires_in: 60 }) }, /https/],
    ['a device answer without device_code', { polls: [], device: (b) => json(200, { user_code: 'ABCD', verification_uri: `${b}/auth/device`, expires_in: 60 }) }, /device_code/],
    ['a refused device request', { polls: [], device: () => json(401, { error: 'unauthorized_client' }) }, /HTTP 401 \(unauthorized_client\)/],
  ];
  for (const [name, script, reason] of refusals) {
    it(`refuses ${name} with IDENTITY_TOKEN_UNAVAILABLE (exit 2)`, async () => {
      const { ep, prompts, result } = await run(script);
      try {
        const err = await result.catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'IDENTITY_TOKEN_UNAVAILABLE', exitCode: 2 });
        expect((err as Error).message).toMatch(reason);
        if (name.includes('escapes')) expect(prompts).toEqual([]);
      } finally {
        await ep.close();
      }
    });
  }
});
