import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { anchoredPattern } from '../../src/signatures/core/identity.js';
import { parsePolicy } from '../../src/trust/policy/load.js';
import { REPO } from '../helpers/cli.js';
import { flagProblems, modelsealInvocations, shellWords } from './cli-lines.js';

interface Job {
  extends?: string | string[];
  image?: string;
  stage?: string;
  needs?: string[];
  id_tokens?: Record<string, { aud: string }>;
  variables?: Record<string, string>;
  before_script?: string[];
  script?: string[];
}
const load = async (rel: string) => parse(await readFile(path.join(REPO, rel), 'utf8')) as Record<string, unknown>;
const template = await load('ci/gitlab/modelseal.gitlab-ci.yml');
const pipeline = await load('examples/ci/gitlab-release.gitlab-ci.yml');
const job = (name: string) => template[name] as Job;
const extendsOf = (j: Job) => (j.extends === undefined ? [] : Array.isArray(j.extends) ? j.extends : [j.extends]);

describe('ci/gitlab/modelseal.gitlab-ci.yml', () => {
  it('parses, and its hidden jobs are the documented ones', () => {
    expect(Object.keys(template).filter((k) => k.startsWith('.')).sort()).toEqual(['.modelseal', '.modelseal-publish', '.modelseal-registry', '.modelseal-sign', '.modelseal-verify']);
    for (const name of ['.modelseal-sign', '.modelseal-publish', '.modelseal-verify']) expect(extendsOf(job(name))).toContain('.modelseal');
  });

  it('signing jobs get the OIDC token in $SIGSTORE_ID_TOKEN for audience sigstore; the verify job gets none', () => {
    for (const name of ['.modelseal-sign', '.modelseal-publish']) expect(job(name).id_tokens).toEqual({ SIGSTORE_ID_TOKEN: { aud: 'sigstore' } });
    expect(job('.modelseal-verify').id_tokens).toBeUndefined();
  });

  it('every modelseal command line uses flags the CLI declares, with required ones present', async () => {
    const lines = Object.values(template)
      .filter((j): j is Job => typeof j === 'object' && j !== null && 'script' in j)
      .flatMap((j) => modelsealInvocations(j.script!));
    expect(lines.map((l) => l.slice(0, l[0] === 'sign' ? 2 : 1).join(' ')).sort()).toEqual(['publish', 'pull', 'sign sigstore']);
    for (const argv of lines) expect(await flagProblems(argv), argv.join(' ')).toEqual([]);
    const publish = lines.find((l) => l[0] === 'publish')!;
    expect(publish).toEqual(expect.arrayContaining(['--sign', 'sigstore', '--sbom', '--registry-username', '$CI_REGISTRY_USER']));
    expect(publish[2]).toBe('$MODEL_REFERENCE');
    const pull = lines.find((l) => l[0] === 'pull')!;
    expect(pull).toEqual(expect.arrayContaining(['--policy', '$MODELSEAL_POLICY']));
  });

  it('publishes to the project registry, and the password never reaches a command line', () => {
    expect((template.variables as Record<string, string>).MODEL_REFERENCE).toMatch(/^oci:\/\/\$\{CI_REGISTRY_IMAGE\}\//);
    expect(job('.modelseal-registry').variables).toEqual({ MODELSEAL_REGISTRY_PASSWORD: '$CI_REGISTRY_PASSWORD' });
    const everyScript = Object.values(template).flatMap((j) => ((j as Job)?.script ?? []).concat((j as Job)?.before_script ?? []));
    for (const line of everyScript) expect(line).not.toContain('CI_REGISTRY_PASSWORD');
  });

  it('the flag checker itself refuses what the CLI would refuse', async () => {
    expect(await flagProblems(shellWords('publish m oci://r/m:1 --sign sigstore --identity-tokn x'))).toEqual(['publish: unknown flag --identity-tokn']);
    expect(await flagProblems(shellWords('publish m oci://r/m:1'))).toEqual(['publish: missing --sign']);
    expect(await flagProblems(shellWords('pull oci://r/m:1 --policy p'))).toEqual(['pull: missing --into']);
    expect(await flagProblems(shellWords('sign m'))).toEqual(['sign needs a subcommand (key|certificate|sigstore|pkcs11-key|pkcs11-certificate)']);
  });
});

describe('examples/ci/gitlab-release.gitlab-ci.yml', () => {
  it('includes the template and runs build → sign → publish → verify on release tags only', () => {
    expect(pipeline.include).toEqual([{ project: 'OWNER/modelseal', ref: expect.any(String), file: 'ci/gitlab/modelseal.gitlab-ci.yml' }]);
    expect(pipeline.stages).toEqual(['build', 'sign', 'publish', 'verify']);
    expect((pipeline.workflow as { rules: Array<{ if: string }> }).rules[0]!.if).toBe('$CI_COMMIT_TAG =~ /^v/');
    const jobs = pipeline as Record<string, Job>;
    expect(extendsOf(jobs['sign-model']!)).toEqual(['.modelseal-sign']);
    expect(extendsOf(jobs['publish-model']!)).toEqual(['.modelseal-publish']);
    expect(extendsOf(jobs['verify-model']!)).toEqual(['.modelseal-verify']);
    expect(jobs['verify-model']!.needs).toEqual(['publish-model']);
    for (const name of ['sign-model', 'publish-model', 'verify-model']) {
      const stage = jobs[name]!.stage!;
      expect(pipeline.stages as string[]).toContain(stage);
    }
  });

  it('its policy pins the pipeline file on a release tag, issuer https://gitlab.com (anchored)', async () => {
    const policy = parsePolicy('modelseal-policy.gitlab.yaml', await readFile(path.join(REPO, 'examples/ci/modelseal-policy.gitlab.yaml')));
    const spec = Object.values(policy.authorities)[0]!;
    if (!('keyless' in spec)) throw new Error('expected a keyless authority');
    expect(spec.keyless.issuer).toBe('https://gitlab.com');
    const re = anchoredPattern(spec.keyless.identityRegexp!);
    expect(re.test('https://gitlab.com/GROUP/PROJECT//.gitlab-ci.yml@refs/tags/v1.2.0')).toBe(true);
    expect(re.test('https://gitlab.com/GROUP/PROJECT//.gitlab-ci.yml@refs/heads/main')).toBe(false);
    expect(re.test('https://gitlab.com/GROUP/PROJECT-fork//.gitlab-ci.yml@refs/tags/v1.2.0')).toBe(false);
    expect(re.test('https://gitlab.com/GROUP/PROJECT//other.yml@refs/tags/v1.2.0')).toBe(false);
    expect(policy.models[0]!.match).toBe('oci://registry.gitlab.com/GROUP/PROJECT/**');
    expect(policy.models[0]!.requireSbom).toBe(true);
  });
});
