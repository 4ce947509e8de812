import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/trust/policy/load.js';
import { globToRegExp, ruleFor } from '../../src/trust/policy/match.js';

const parse = (text: string) => parsePolicy('/etc/policy.yaml', Buffer.from(text));
const good = `apiVersion: modelseal/v1
authorities:
  release:
    key: { publicKey: keys/release.pub }
  corp:
    certificate: { roots: [pki/root.pem] }
  ci:
    keyless:
      identityRegexp: https://github\\.com/org/.+
      issuer: https://token.actions.githubusercontent.com
models:
  - match: "oci://registry.example.com/models/**"
    authorities: [release, ci]
    threshold: 2
    requireSbom: true
  - match: "s3://bucket/*"
    authorities: [corp]
`;

describe('trust policy', () => {
  it('parses a valid policy with defaults', () => {
    const p = parse(good);
    expect(p.models[0]).toMatchObject({ threshold: 2, requireSbom: true, blockUnsafePickle: true, ignoreUnsignedFiles: false });
    expect(p.models[1]).toMatchObject({ threshold: 1, requireSbom: false });
    expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
  it('picks the first matching rule and refuses models no rule names', () => {
    const p = parse(good);
    expect(ruleFor(p, 'oci://registry.example.com/models/llama:1').authorities).toEqual(['release', 'ci']);
    expect(ruleFor(p, 's3://bucket/m1').authorities).toEqual(['corp']);
    expect(() => ruleFor(p, 's3://bucket/a/b')).toThrow(expect.objectContaining({ code: 'POLICY_VIOLATION' }));
    expect(() => ruleFor(p, 'oci://registry.example.com.evil/models/x')).toThrow(/no rule/);
  });
  it('globs: * stays in a segment, ** crosses, the rest is literal', () => {
    expect(globToRegExp('s3://b/*').test('s3://b/x/y')).toBe(false);
    expect(globToRegExp('s3://b/**').test('s3://b/x/y')).toBe(true);
    expect(globToRegExp('oci://r.io/m').test('oci://rXio/m')).toBe(false);
  });
  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', good.replace('threshold: 2', 'treshold: 2'), /policy\.yaml:14: models\.0\.treshold: unknown key "treshold"/],
    ['wrong type', good.replace('requireSbom: true', 'requireSbom: "yes"'), /policy\.yaml:15: models\.0\.requireSbom: must be true or false/],
    ['unknown authority', good.replace('[corp]', '[corporate]'), /names no authority "corporate"/],
    ['threshold too high', good.replace('threshold: 2', 'threshold: 3'), /threshold: must be an integer from 1 to 2/],
    ['two authority kinds', good.replace('key: { publicKey: keys/release.pub }', 'key: { publicKey: a }\n    certificate: { roots: [b] }'), /exactly one of key, certificate, keyless/],
    ['identity and regexp', good.replace('identityRegexp:', 'identity: x\n      identityRegexp:'), /exactly one of identity, identityRegexp/],
    ['bad regexp', good.replace('https://github\\.com/org/.+', '"(unclosed"'), /not a valid regular expression/],
    ['wrong apiVersion', good.replace('modelseal/v1', 'modelseal/v2'), /apiVersion: must be "modelseal\/v1"/],
    ['no models', good.slice(0, good.indexOf('models:')) + 'models: []\n', /models: must be a non-empty list/],
    ['duplicate key', good.replace('  corp:', '  release:'), /policy\.yaml:\d+: .*[Uu]nique|duplicate/i],
    ['not YAML', 'apiVersion: [', /policy\.yaml:1:/],
  ];
  for (const [name, text, re] of bad) {
    it(`rejects ${name} naming the line`, () => {
      expect(() => parse(text)).toThrow(re);
    });
  }
});
