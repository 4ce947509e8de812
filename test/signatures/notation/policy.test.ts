import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/trust/policy/load.js';

/** A trust policy's Notation authority, validated strictly (requireNotation and threshold counting are for trust/checks). */
describe('policy notation authority', () => {
  it('validates the notation authority strictly, naming the line', () => {
    const base = (auth: string) => Buffer.from(`apiVersion: modelseal/v1\nauthorities:\n  acr:\n    notation:\n${auth}\nmodels:\n  - match: "oci://r/**"\n    authorities: [acr]\n`);
    const p = parsePolicy('/etc/p.yaml', base('      trustStore: [a.pem]\n      trustedIdentities: ["x509.subject: C=US, ST=WA, O=Acme"]\n      level: permissive'));
    expect(p.authorities.acr).toEqual({ notation: { trustStore: ['a.pem'], trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme'], level: 'permissive' } });
    expect(() => parsePolicy('/etc/p.yaml', base('      trustStore: [a.pem]\n      trustedIdentities: ["x509.subject: CN=release"]'))).toThrow(/p\.yaml:\d+: .*trustedIdentities: .*must name C, ST, O/);
    expect(() => parsePolicy('/etc/p.yaml', base('      trustStore: [a.pem]\n      trustedIdentities: ["*"]\n      level: audit'))).toThrow(/level: must be strict or permissive/);
    expect(() => parsePolicy('/etc/p.yaml', base('      trustedIdentities: ["*"]'))).toThrow(/missing required key "trustStore"/);
  });
});
