import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { startRegistry, type RegistryServer } from '../harness/registry.js';
import { runCli } from '../helpers/cli.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../helpers/mock-sigstore.js';
import { makeModel } from '../helpers/model.js';
import { githubRequestUrl, githubTokenEndpoint, type Endpoint } from '../helpers/oidc-endpoints.js';

/**
 * Keyless signing as it runs in a GitHub Actions release job: no token is handed to modelseal,
 * it asks the job's token endpoint (served here) for audience `sigstore`, gets a certificate from
 * the mock Fulcio for the workflow identity, and the result verifies offline by that identity.
 */
const ISSUER = 'https://token.actions.githubusercontent.com';
const WORKFLOW_REF = 'acme/models/.github/workflows/release.yml@refs/tags/v1.2.0';
const IDENTITY = `https://github.com/${WORKFLOW_REF}`;
/** The README's documented pin: the exact workflow, any release tag, anchored by modelseal. */
const IDENTITY_REGEXP = 'https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v.*';

let sigstore: MockSigstore;
let github: Endpoint;
let refuse = false;
let dir: string;

beforeAll(async () => {
  sigstore = await startMockSigstore();
  github = await githubTokenEndpoint('job-request-token', (aud) =>
    refuse || aud !== 'sigstore' ? undefined : fakeIdentityToken('repo:acme/models:ref:refs/tags/v1.2.0', ISSUER, { job_workflow_ref: WORKFLOW_REF }),
  );
  dir = await tempDir('keyless-ci');
  await writeFile(path.join(dir, 'trusted_root.json'), JSON.stringify(sigstore.trustedRoot));
});
afterAll(async () => {
  await github?.close();
  await sigstore?.close();
});

/** What a GitHub Actions job with `permissions: id-token: write` sees (and nothing from this shell). */
const actionsEnv = (): NodeJS.ProcessEnv => ({
  SIGSTORE_ID_TOKEN: '',
  GITHUB_ACTIONS: 'true',
  ACTIONS_ID_TOKEN_REQUEST_URL: githubRequestUrl(github.url),
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'job-request-token',
});
const services = () => ['--fulcio-url', sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl, '--tsa-url', sigstore.tsaUrl];
const trustRoot = () => path.join(dir, 'trusted_root.json');
const model = () => makeModel({ 'config.json': '{"layers":2}', 'weights.bin': Buffer.alloc(8192, 3) });

describe('sign in GitHub Actions with the ambient token', () => {
  it('sign sigstore: no token flag, logs the workflow identity, verifies offline pinned to the workflow', async () => {
    const m = await model();
    const signed = await runCli(['sign', 'sigstore', m, ...services()], { env: actionsEnv() });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'identity_token', source: 'github-actions', issuer: ISSUER, identity: IDENTITY }));
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'keyless_certificate', identity: IDENTITY, issuer: ISSUER }));
    expect(signed.stderr).not.toContain('job-request-token');
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'model_signed', method: 'sigstore', signer: IDENTITY, issuer: ISSUER }));
    expect(signed.stdout).toContain(`signer: ${IDENTITY} (${ISSUER})`);

    const verify = (identityArgs: string[]) =>
      runCli(['verify', 'sigstore', m, ...identityArgs, '--identity-provider', ISSUER, '--trust-root', trustRoot(), '--json']);
    const ok = await verify(['--identity-regexp', IDENTITY_REGEXP]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    expect((await verify(['--identity', IDENTITY])).code).toBe(0);
    // Another repository's release workflow, or a branch build of this one, is not the release signer.
    expect((await verify(['--identity-regexp', 'https://github\\.com/acme/other/\\.github/workflows/release\\.yml@refs/tags/v.*'])).code).toBe(3);
    expect((await verify(['--identity-regexp', 'https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/heads/.*'])).code).toBe(3);
  });

  it('sign-blob: keyless from the ambient token, verify-blob by the workflow identity', async () => {
    const m = await model();
    const file = path.join(m, 'weights.bin');
    const bundle = path.join(dir, 'weights.sigstore.json');
    const signed = await runCli(['sign-blob', file, '--bundle', bundle, ...services()], { env: actionsEnv() });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'keyless_certificate', identity: IDENTITY }));
    const ok = await runCli(['verify-blob', file, '--bundle', bundle, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', trustRoot()]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(IDENTITY);
  });
});

describe('sign in GitLab CI with the id_tokens token', () => {
  it('reads $SIGSTORE_ID_TOKEN, is certified as the pipeline file at the tag, verifies with the GitLab pin', async () => {
    const m = await model();
    const token = fakeIdentityToken('project_path:group/project:ref_type:tag:ref:v1.2.0', 'https://gitlab.com', {
      ci_config_ref_uri: 'gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1.2.0',
    });
    const signed = await runCli(['sign', 'sigstore', m, ...services()], { env: { GITLAB_CI: 'true', SIGSTORE_ID_TOKEN: token, GITHUB_ACTIONS: '' } });
    expect(signed.code, signed.stderr).toBe(0);
    const identity = 'https://gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1.2.0';
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'identity_token', source: 'environment', identity }));
    expect(signed.logs).toContainEqual(expect.objectContaining({ event_type: 'keyless_certificate', identity, issuer: 'https://gitlab.com' }));
    const pin = ['--identity-regexp', 'https://gitlab\\.com/group/project//\\.gitlab-ci\\.yml@refs/tags/v.*', '--identity-provider', 'https://gitlab.com', '--trust-root', trustRoot()];
    const ok = await runCli(['verify', 'sigstore', m, ...pin]);
    expect(ok.code, ok.stderr).toBe(0);
    const github = await runCli(['verify', 'sigstore', m, '--identity', identity, '--identity-provider', ISSUER, '--trust-root', trustRoot()]);
    expect(github.code).toBe(3);
  });
});

describe('no usable ambient token: one line, exit 2, nothing signed', () => {
  it('a job without id-token: write (no request URL)', async () => {
    const m = await model();
    const r = await runCli(['sign', 'sigstore', m, ...services()], { env: { SIGSTORE_ID_TOKEN: '', GITHUB_ACTIONS: 'true', ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/modelseal: IDENTITY_TOKEN_UNAVAILABLE: .*permissions: id-token: write/);
    await expect(access(path.join(m, 'model.sig'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a token endpoint that refuses the request', async () => {
    refuse = true;
    try {
      const m = await model();
      const r = await runCli(['sign', 'sigstore', m, ...services(), '--json'], { env: actionsEnv() });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: 'IDENTITY_TOKEN_UNAVAILABLE', exitCode: 2 });
    } finally {
      refuse = false;
    }
  });

  it('outside CI with no token', async () => {
    const r = await runCli(['sign-blob', path.join(await model(), 'config.json'), '--bundle', path.join(dir, 'x.json'), ...services()], {
      env: { SIGSTORE_ID_TOKEN: '', GITHUB_ACTIONS: '', GITLAB_CI: '', BUILDKITE: '', CIRCLECI: '', ACTIONS_ID_TOKEN_REQUEST_URL: '' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--oidc-device');
  });

  it('--oidc-device without a person at a terminal', async () => {
    const r = await runCli(['sign', 'sigstore', await model(), '--oidc-device', ...services()], { env: actionsEnv() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/USAGE: --oidc-device needs a person at a terminal/);
  });
});

describe('publish to a registry from CI, pull by policy pinned to the workflow identity', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  it('publish --sign sigstore --sbom with the ambient token; pull --policy accepts the release workflow only', async () => {
    const ref = `oci://${registry.host}/acme/models:v1.2.0`;
    const pub = await runCli(['publish', await model(), ref, '--sign', 'sigstore', '--sbom', ...services(), '--plain-http', '--json'], { env: actionsEnv() });
    expect(pub.code, pub.stderr).toBe(0);
    // The model signature and the SBOM signature each got a certificate for the workflow.
    expect(pub.logs.filter((l) => l.event_type === 'keyless_certificate' && l.identity === IDENTITY).length).toBeGreaterThanOrEqual(2);

    const policy = (identityRegexp: string) => [
      'apiVersion: modelseal/v1',
      'authorities:',
      '  release-workflow:',
      '    keyless:',
      `      identityRegexp: '${identityRegexp}'`,
      `      issuer: ${ISSUER}`,
      `      trustedRoot: ${trustRoot()}`,
      'models:',
      `  - match: "oci://${registry.host}/acme/**"`,
      '    authorities: [release-workflow]',
      '    requireSbom: true',
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'release.yaml'), policy(IDENTITY_REGEXP));
    await writeFile(path.join(dir, 'other.yaml'), policy('https://github\\.com/acme/models/\\.github/workflows/nightly\\.yml@.*'));
    const pull = async (policyFile: string) =>
      runCli(['pull', ref, '--into', path.join(await tempDir('ci-into'), 'm'), '--policy', path.join(dir, policyFile), '--plain-http', '--json']);
    const ok = await pull('release.yaml');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    const refused = await pull('other.yaml');
    expect(refused.code, refused.stdout).toBe(3);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, code: expect.stringMatching(/^(IDENTITY_MISMATCH|UNTRUSTED_SIGNER)$/) });
  });
});
