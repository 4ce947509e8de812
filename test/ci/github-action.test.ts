import { spawn } from 'node:child_process';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { anchoredPattern } from '../../src/signatures/core/identity.js';
import { parsePolicy } from '../../src/trust/policy/load.js';
import { tempDir } from '../harness/process.js';
import { REPO } from '../helpers/cli.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../helpers/mock-sigstore.js';
import { makeModel } from '../helpers/model.js';
import { githubRequestUrl, githubTokenEndpoint, type Endpoint } from '../helpers/oidc-endpoints.js';

interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}
interface Step {
  uses?: string;
  run?: string;
  shell?: string;
  id?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
const action = parse(await readFile(path.join(REPO, 'action.yml'), 'utf8')) as {
  name: string;
  description: string;
  inputs: Record<string, ActionInput>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: Step[] };
};
const workflow = parse(await readFile(path.join(REPO, 'examples/ci/github-release.yml'), 'utf8')) as {
  on: { push: { tags: string[] } };
  permissions: Record<string, string>;
  jobs: Record<string, { permissions: Record<string, string>; steps: Step[]; needs?: string }>;
};
const SCRIPT = path.join(REPO, 'ci/github/run-action.sh');
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** The input names an `${{ inputs.x }}` expression refers to. */
const referencedInputs = (text: string) => [...text.matchAll(/\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}/g)].map((m) => m[1]!);

describe('action.yml (action metadata)', () => {
  it('is a composite action with a name, a description and described inputs, and `command` is required', () => {
    expect(action.name).toBe('modelseal');
    expect(action.description.length).toBeGreaterThan(10);
    expect(action.runs.using).toBe('composite');
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(name, 'input names are kebab-case').toMatch(/^[a-z][a-z0-9-]*$/);
      expect(input.description, name).toBeTypeOf('string');
    }
    expect(action.inputs.command!.required).toBe(true);
    expect(action.inputs.command!.description).toMatch(/sign \| publish \| verify \| pull/);
    // Keyless uses the job's OIDC identity: there is no token input to leak.
    expect(Object.keys(action.inputs).filter((n) => /token/.test(n))).toEqual([]);
  });

  it('every composite step has a shell (required for run steps); every input is passed on, none invented', () => {
    const steps = action.runs.steps;
    for (const s of steps) if (s.run !== undefined) expect(s.shell, s.run).toBe('bash');
    const used = new Set(steps.flatMap((s) => referencedInputs(JSON.stringify(s))));
    expect([...used].sort()).toEqual(Object.keys(action.inputs).sort());
    for (const o of Object.values(action.outputs)) expect(o.value).toMatch(/^\$\{\{ steps\.run\.outputs\.[a-z-]+ \}\}$/);
    expect(steps.some((s) => s.id === 'run')).toBe(true);
  });

  it('inputs reach the script only through env (no ${{ }} inside run:, so no script injection)', async () => {
    for (const s of action.runs.steps) if (s.run !== undefined) expect(s.run).not.toMatch(/\$\{\{/);
    const run = action.runs.steps.find((s) => s.id === 'run')!;
    expect(run.run).toContain('ci/github/run-action.sh');
    await access(SCRIPT, constants.X_OK);
    // The registry password travels as MODELSEAL_REGISTRY_PASSWORD, which modelseal reads itself.
    expect(run.env!.MODELSEAL_REGISTRY_PASSWORD).toBe('${{ inputs.registry-password }}');
  });
});

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

/** Run the action's step as the runner does: inputs as INPUT_* env, GITHUB_OUTPUT a file. */
async function runAction(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
  const out = path.join(await tempDir('gh-output'), 'output');
  await writeFile(out, '');
  const run = action.runs.steps.find((s) => s.id === 'run')!;
  const stepEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(run.env!)) {
    const [name] = referencedInputs(v);
    stepEnv[k] = inputs[name!] ?? action.inputs[name!]!.default?.replace(/^\$\{\{.*\}\}$/, '') ?? '';
  }
  const child = spawn('bash', [SCRIPT], {
    env: {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME,
      GITHUB_ACTION_PATH: REPO,
      GITHUB_OUTPUT: out,
      MODELSEAL_LOG_LEVEL: 'info',
      SIGSTORE_ID_TOKEN: '',
      ...stepEnv,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout, stderr, outputs: parseGithubOutput(await readFile(out, 'utf8')) };
}

/** GITHUB_OUTPUT's format: `name=value` lines and `name<<DELIM` … `DELIM` blocks. */
function parseGithubOutput(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([a-z-]+)<<(.+)$/.exec(lines[i]!);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2]!, i + 1);
      outputs[heredoc[1]!] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (lines[i]!.includes('=')) {
      const at = lines[i]!.indexOf('=');
      outputs[lines[i]!.slice(0, at)] = lines[i]!.slice(at + 1);
    }
  }
  return outputs;
}

describe('the action run for real (keyless sign and verify in a simulated Actions job)', () => {
  const WORKFLOW_REF = 'acme/models/.github/workflows/release.yml@refs/tags/v2.0.0';
  let sigstore: MockSigstore;
  let github: Endpoint;
  let trustRoot: string;
  beforeAll(async () => {
    sigstore = await startMockSigstore();
    github = await githubTokenEndpoint('rt', (aud) => (aud === 'sigstore' ? fakeIdentityToken('repo:acme/models:ref:refs/tags/v2.0.0', GITHUB_ISSUER, { job_workflow_ref: WORKFLOW_REF }) : undefined));
    trustRoot = path.join(await tempDir('gh-action'), 'trusted_root.json');
    await writeFile(trustRoot, JSON.stringify(sigstore.trustedRoot));
  });
  afterAll(async () => {
    await github?.close();
    await sigstore?.close();
  });

  it('command: sign, then command: verify pinned to the workflow; a wrong pin fails with exit-code 3', async () => {
    const model = await makeModel({ 'config.json': '{}', 'w.bin': Buffer.alloc(2048, 9) });
    const jobEnv = { GITHUB_ACTIONS: 'true', ACTIONS_ID_TOKEN_REQUEST_URL: githubRequestUrl(github.url), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'rt' };
    const services = [`--fulcio-url`, sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl, '--tsa-url', sigstore.tsaUrl].join('\n');
    const signed = await runAction({ command: 'sign', model, args: services }, jobEnv);
    expect(signed.code, signed.stderr + signed.stdout).toBe(0);
    expect(JSON.parse(signed.outputs.result!)).toMatchObject({ ok: true, signature: path.join(model, 'model.sig'), signer: { identity: `https://github.com/${WORKFLOW_REF}`, issuer: GITHUB_ISSUER } });
    expect(signed.outputs['exit-code']).toBe('0');
    expect(signed.stderr).toContain(`"identity":"https://github.com/${WORKFLOW_REF}"`);

    const pin = 'https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v.*';
    const ok = await runAction({ command: 'verify', model, 'identity-regexp': pin, issuer: GITHUB_ISSUER, 'trust-root': trustRoot });
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    const wrong = await runAction({ command: 'verify', model, 'identity-regexp': pin.replace('acme', 'evil'), issuer: GITHUB_ISSUER, 'trust-root': trustRoot });
    expect(wrong.code).toBe(3);
    expect(wrong.outputs['exit-code']).toBe('3');
  });

  it('refuses unknown commands and missing inputs with a workflow error annotation, exit 2', async () => {
    for (const [inputs, reason] of [
      [{ command: 'delete' }, 'command must be sign, publish, verify or pull'],
      [{ command: 'sign' }, 'sign needs the model input'],
      [{ command: 'pull', reference: 'oci://r.example/m:1', into: 'x' }, 'pull needs the policy input'],
      [{ command: 'verify', model: 'm', identity: 'a@b.c' }, 'identity pins need the issuer input'],
      [{ command: 'sign', model: 'm', 'sign-method': 'key' }, 'needs the private-key input'],
    ] as Array<[Record<string, string>, string]>) {
      const r = await runAction(inputs);
      expect(r.code, JSON.stringify(inputs)).toBe(2);
      expect(r.stdout).toContain(`::error title=modelseal::`);
      expect(r.stdout).toContain(reason);
    }
  });
});

describe('examples/ci/github-release.yml', () => {
  const uses = (s: Step) => s.uses?.endsWith('/modelseal@v0') === true;
  const actionSteps = () => Object.values(workflow.jobs).flatMap((j) => j.steps.filter(uses));

  it('runs on release tags; only the signing job may mint an OIDC token and write packages', () => {
    expect(workflow.on.push.tags).toEqual(['v*']);
    expect(workflow.permissions).toEqual({});
    expect(workflow.jobs.release!.permissions).toMatchObject({ 'id-token': 'write', packages: 'write' });
    expect(workflow.jobs.verify!.permissions['id-token']).toBeUndefined();
    expect(workflow.jobs.verify!.needs).toBe('release');
  });

  it('uses the action for sign, publish (GHCR, SBOM) and pull/verify, with declared inputs only', () => {
    const steps = actionSteps();
    expect(steps.map((s) => s.with!.command)).toEqual(['sign', 'publish', 'pull', 'verify']);
    for (const s of steps) {
      for (const name of Object.keys(s.with!)) expect(action.inputs, `${s.with!.command}: ${name}`).toHaveProperty(name);
    }
    const publish = steps.find((s) => s.with!.command === 'publish')!;
    expect(publish.with!.reference).toMatch(/^oci:\/\/ghcr\.io\/\$\{\{ github\.repository \}\}\//);
    expect(publish.with!.sbom).toBe('true');
    const pull = steps.find((s) => s.with!.command === 'pull')!;
    expect(pull.with!.policy).toBe('.github/modelseal-policy.yaml');
    const verify = steps.find((s) => s.with!.command === 'verify')!;
    expect(verify.with!.issuer).toBe(GITHUB_ISSUER);
  });

  it('each action step becomes a modelseal command line the CLI accepts (no usage error)', async () => {
    const sample = (v: string) =>
      v
        .replace(/\$\{\{ github\.repository \}\}/g, 'acme/models')
        .replace(/\$\{\{ github\.ref_name \}\}/g, 'v1.0.0')
        .replace(/\$\{\{ needs\.release\.outputs\.digest \}\}/g, `sha256:${'a'.repeat(64)}`);
    const policy = path.join(REPO, 'examples/ci/modelseal-policy.github.yaml');
    for (const s of actionSteps()) {
      const inputs = Object.fromEntries(Object.entries(s.with!).map(([k, v]) => [k, sample(v)]));
      if (inputs.policy) inputs.policy = policy;
      // Nothing exists here (no model, no registry, no token): each fails, but never on its flags.
      const r = await runAction({ ...inputs, 'registry-password': 'x' }, { GITHUB_ACTIONS: '' });
      expect(r.stdout, `${s.with!.command}: ${r.stderr}`).toMatch(/^modelseal /m);
      expect(r.stderr, s.with!.command).not.toMatch(/error: (unknown option|required option|missing required argument|option .* argument missing)/);
      const result = JSON.parse(r.outputs.result!) as { code?: string };
      expect(result.code, `${s.with!.command}: ${r.outputs.result}`).not.toBe('USAGE');
    }
  });

  it('the policy it pulls with pins exactly the release workflow on a tag (anchored)', async () => {
    const policy = parsePolicy('modelseal-policy.github.yaml', await readFile(path.join(REPO, 'examples/ci/modelseal-policy.github.yaml')));
    const keyless = Object.values(policy.authorities).map((a) => ('keyless' in a ? a.keyless : undefined)).find(Boolean)!;
    expect(keyless.issuer).toBe(GITHUB_ISSUER);
    const re = anchoredPattern(keyless.identityRegexp!);
    expect(re.test('https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.2.0')).toBe(true);
    for (const other of [
      'https://github.com/ORG/REPO/.github/workflows/release.yml@refs/heads/main',
      'https://github.com/ORG/REPO/.github/workflows/nightly.yml@refs/tags/v1.2.0',
      'https://github.com/ORG/REPO-fork/.github/workflows/release.yml@refs/tags/v1.2.0',
      'https://github.com/ORG/REPOx/github/workflows/release.yml@refs/tags/v1',
    ]) {
      expect(re.test(other), other).toBe(false);
    }
    expect(policy.models[0]!.requireSbom).toBe(true);
  });
});
