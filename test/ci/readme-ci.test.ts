import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { flagProblems, modelsealInvocations } from './cli-lines.js';

/** The README's CI section is what users copy: every command in it must parse as the CLI defines it. */
describe('README "Signing in CI"', () => {
  it('documents GitHub and GitLab pins, and every modelseal line in it uses real flags', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const start = readme.indexOf('### Signing in CI');
    const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
    expect(start).toBeGreaterThan(0);
    const shell = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ' ')).join('\n');
    const lines = modelsealInvocations(shell);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const argv of lines) expect(await flagProblems(argv), argv.join(' ')).toEqual([]);
    const pins = lines.map((l) => [l[l.indexOf('--identity-regexp') + 1], l[l.indexOf('--identity-provider') + 1]]).filter(([re]) => re?.startsWith('https'));
    expect(pins).toContainEqual(['https://github\\.com/ORG/REPO/\\.github/workflows/release\\.yml@refs/tags/v.*', 'https://token.actions.githubusercontent.com']);
    expect(pins).toContainEqual(['https://gitlab\\.com/GROUP/PROJECT//\\.gitlab-ci\\.yml@refs/tags/v.*', 'https://gitlab.com']);
    expect(section).toContain('IDENTITY_TOKEN_UNAVAILABLE');
  });
});
