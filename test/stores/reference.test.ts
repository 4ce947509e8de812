import { describe, expect, it } from 'vitest';
import { canonicalPattern, canonicalReference } from '../../src/stores/reference.js';
import { parsePolicy } from '../../src/trust/policy/load.js';
import { ruleFor } from '../../src/trust/policy/match.js';

/** #11 defect 4: equivalent spellings of one model location always hit the same policy rule. */
describe('canonical references', () => {
  it.each([
    ['oci://LOCALHOST:5000/models/x:1', 'oci://localhost:5000/models/x:1'],
    ['oci://Registry.Example.com/models/x:1', 'oci://registry.example.com:443/models/x:1'],
    ['oci://registry.example.com:443/models/x', 'oci://registry.example.com:443/models/x:latest'],
    ['oci://index.docker.io/library/ubuntu:24.04', 'oci://docker.io:443/library/ubuntu:24.04'],
    ['oci://docker.io/ubuntu:24.04', 'oci://docker.io:443/library/ubuntu:24.04'],
    ['oci://registry-1.docker.io/ubuntu:24.04', 'oci://docker.io:443/library/ubuntu:24.04'],
    ['s3://bkt/prod', 's3://bkt/prod/'],
    ['s3://bkt/prod/', 's3://bkt/prod/'],
  ])('%s is %s', (ref, canonical) => {
    expect(canonicalReference(ref)).toBe(canonicalReference(canonical));
  });

  it('resolves local paths', () => {
    expect(canonicalReference('./x/../y')).toBe(canonicalReference(`${process.cwd()}/y`));
  });

  it.each(['oci://registry.example.com/models%2Fx:1', 's3://bkt/pro%64', 'oci://h/m:1\u0000'])('refuses the ambiguous %j (exit 2)', (ref) => {
    expect(() => canonicalReference(ref)).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
  });

  it('canonicalises a rule the same way', () => {
    expect(canonicalPattern('oci://LOCALHOST:5000/models/**')).toBe('oci://localhost:5000/models/**');
    expect(canonicalPattern('oci://registry.example.com/models/**')).toBe('oci://registry.example.com:443/models/**');
    expect(canonicalPattern('oci://docker.io/ubuntu')).toBe('oci://docker.io:443/library/ubuntu');
    expect(canonicalPattern('s3://bkt/prod')).toBe('s3://bkt/prod/');
    expect(canonicalPattern('oci://*.example.com/**')).toBe('oci://*.example.com/**');
  });
});

describe('policy rules match the canonical reference', () => {
  const policy = parsePolicy(
    '/etc/modelseal/policy.yaml',
    Buffer.from(`apiVersion: modelseal/v1
authorities:
  strict: { key: { publicKey: a.pub } }
  loose: { key: { publicKey: b.pub } }
models:
  - match: "oci://localhost:5000/models/**"
    authorities: [strict]
  - match: "s3://bkt/prod/**"
    authorities: [strict]
  - match: "oci://**"
    authorities: [loose]
  - match: "s3://**"
    authorities: [loose]
`),
  );

  it.each([
    'oci://localhost:5000/models/x:1',
    'oci://LOCALHOST:5000/models/x:1',
    'oci://LocalHost:5000/models/x@sha256:' + 'a'.repeat(64),
    's3://bkt/prod',
    's3://bkt/prod/',
  ])('%s hits the strict rule', (ref) => {
    expect(ruleFor(policy, ref).authorities).toEqual(['strict']);
  });

  it('a different registry port is a different place', () => {
    expect(ruleFor(policy, 'oci://localhost:5001/models/x:1').authorities).toEqual(['loose']);
  });
});
