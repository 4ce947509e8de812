import { createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NotationAuthority } from '../../../src/signatures/core/types.js';
import { verifyNotationSignature } from '../../../src/signatures/notation/verify.js';

/** Every vector of test/fixtures/notation/CASES.md, with the result it lists. */
const FIX = path.join(import.meta.dirname, '../../fixtures/notation');
/** The clock the vectors' results were stated for (results change only after 2033-01-19). */
const NOW = new Date('2026-12-04T12:00:00Z');

function store(type: string, name: string): X509Certificate[] {
  const dir = path.join(FIX, 'truststore/x509', type, name);
  return readdirSync(dir).map((f) => new X509Certificate(readFileSync(path.join(dir, f))));
}

const manifest = readFileSync(path.join(FIX, 'oci/manifest-sha256-19dbd2e4.json'));
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';
const D1 = { mediaType: DOCKER, digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e', size: 528 };
const D2 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, size: manifest.length };
const D3 = { mediaType: DOCKER, digest: 'sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda', size: 528 };
const D4 = { mediaType: DOCKER, digest: 'sha256:fe7e9333395060c2f5e63cf36a38fba10176f183b4163a5794e081a480abba5f', size: 942 };

const ca = (name: string, extra: Partial<NotationAuthority> = {}): NotationAuthority => ({ kind: 'notation', name, trustStore: store('ca', name), trustedIdentities: ['*'], ...extra });
const sa = (extra: Partial<NotationAuthority> = {}): NotationAuthority => ({
  kind: 'notation', name: 'sa', trustStore: store('signingAuthority', 'notation-test-root'), signingAuthority: true, trustedIdentities: ['*'], ...extra,
});
const R6 = store('tsa', 'globalsign-r6');
const ROOT_ID = 'x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US';

type Expect = 'PASS' | { code: string; check: string };
const fails = (code: string, check: string): Expect => ({ code, check });

/** [case, envelope, subject, authority, expected]. */
const CASES: Array<[string, string, typeof D1, NotationAuthority, Expect]> = [
  ['1', 'jws/ca_valid.jws.json', D1, ca('notation-test-root', { trustedIdentities: [ROOT_ID] }), 'PASS'],
  ['1 (*)', 'jws/ca_valid.jws.json', D1, ca('notation-test-root'), 'PASS'],
  ['1a', 'jws/ca_valid.jws.json', D1, ca('globalsign-r3-unrelated'), fails('UNTRUSTED_SIGNER', 'authenticity')],
  ['1a permissive', 'jws/ca_valid.jws.json', D1, ca('globalsign-r3-unrelated', { level: 'permissive' }), fails('UNTRUSTED_SIGNER', 'authenticity')],
  ['1b', 'jws/ca_valid.jws.json', D1, ca('notation-test-root', { trustedIdentities: ['x509.subject:CN=LOL,O=DummyOrg,L=Hyderabad,ST=TG,C=IN'] }), fails('IDENTITY_MISMATCH', 'authenticity')],
  ['1c', 'jws/ca_valid.jws.json', D1, sa(), fails('UNTRUSTED_SIGNER', 'authenticity')],
  ['1d size', 'jws/ca_valid.jws.json', { ...D1, size: 529 }, ca('notation-test-root'), fails('SUBJECT_MISMATCH', 'integrity')],
  ['1d digest', 'jws/ca_valid.jws.json', { ...D1, digest: D3.digest }, ca('notation-test-root'), fails('SUBJECT_MISMATCH', 'integrity')],
  ['1d media type', 'jws/ca_valid.jws.json', { ...D1, mediaType: D2.mediaType }, ca('notation-test-root'), fails('SUBJECT_MISMATCH', 'integrity')],
  ['2', 'jws/ca_invalid.jws.json', D1, ca('notation-test-root'), fails('BUNDLE_INVALID', 'integrity')],
  ['2 permissive', 'jws/ca_invalid.jws.json', D1, ca('notation-test-root', { level: 'permissive' }), fails('BUNDLE_INVALID', 'integrity')],
  ['3', 'jws/ca_expired.jws.json', D1, ca('notation-test-root'), fails('SIGNATURE_EXPIRED', 'expiry')],
  ['3 permissive', 'jws/ca_expired.jws.json', D1, ca('notation-test-root', { level: 'permissive' }), 'PASS'],
  ['4', 'jws/sa_valid.jws.json', D1, sa(), 'PASS'],
  ['4a', 'jws/sa_valid.jws.json', D1, ca('notation-test-root'), fails('UNTRUSTED_SIGNER', 'authenticity')],
  ['5', 'jws/sa_invalid.jws.json', D1, sa(), fails('BUNDLE_INVALID', 'integrity')],
  ['6', 'jws/sa_expired.jws.json', D1, sa(), fails('SIGNATURE_EXPIRED', 'expiry')],
  ['6 permissive', 'jws/sa_expired.jws.json', D1, sa({ level: 'permissive' }), 'PASS'],
  ['7', 'jws/ca_plugin_critical.jws.json', D1, ca('notation-test-root'), fails('BUNDLE_INVALID', 'integrity')],
  ['8', 'jws/wabbit_pluginver_1.0.0.jws.json', D4, ca('wabbit-networks'), fails('BUNDLE_INVALID', 'integrity')],
  ['9', 'jws/alpine.jws.sig', D2, ca('alpine-2000'), 'PASS'],
  ['10', 'cose/alpine.cose.sig', D2, ca('alpine-2000'), 'PASS'],
  ['11', 'jws/ts_valid.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6, verifyTimestamp: 'always' }), 'PASS'],
  ['11 no tsa store', 'jws/ts_valid.jws.sig', D3, ca('alpine-2023'), 'PASS'],
  ['12', 'cose/ts_valid.cose.sig', D3, ca('alpine-2023', { tsaRoots: R6 }), 'PASS'],
  ['13', 'jws/ts_expired_cert.jws.sig', D3, ca('testtsa-expired', { tsaRoots: R6 }), 'PASS'],
  ['13 afterCertExpiry', 'jws/ts_expired_cert.jws.sig', D3, ca('testtsa-expired', { tsaRoots: R6, verifyTimestamp: 'afterCertExpiry' }), 'PASS'],
  ['13a', 'jws/ts_expired_cert.jws.sig', D3, ca('testtsa-expired'), fails('CERTIFICATE_INVALID', 'authenticTimestamp')],
  ['13a permissive', 'jws/ts_expired_cert.jws.sig', D3, ca('testtsa-expired', { level: 'permissive' }), 'PASS'],
  ['13b', 'jws/ts_expired_cert.jws.sig', D3, ca('testtsa-expired', { tsaRoots: store('tsa', 'digicert-g4-wrong') }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['14', 'cose/ts_expired_cert.cose.sig', D3, ca('testtsa-expired', { tsaRoots: R6 }), 'PASS'],
  ['14a', 'cose/ts_expired_cert.cose.sig', D3, ca('testtsa-expired'), fails('CERTIFICATE_INVALID', 'authenticTimestamp')],
  ['14b', 'cose/ts_expired_cert.cose.sig', D3, ca('testtsa-expired', { tsaRoots: store('tsa', 'digicert-g4-wrong') }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['15', 'jws/ts_before_notbefore.jws.sig', D3, ca('testtsa-notyetvalid', { tsaRoots: R6 }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['15 permissive', 'jws/ts_before_notbefore.jws.sig', D3, ca('testtsa-notyetvalid', { tsaRoots: R6, level: 'permissive' }), 'PASS'],
  ['16', 'cose/ts_after_notafter.cose.sig', D3, ca('testtsa-2000', { tsaRoots: R6 }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['16 permissive', 'cose/ts_after_notafter.cose.sig', D3, ca('testtsa-2000', { tsaRoots: R6, level: 'permissive' }), 'PASS'],
  ['17', 'jws/no_timestamp.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6, verifyTimestamp: 'always' }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['17 afterCertExpiry', 'jws/no_timestamp.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6, verifyTimestamp: 'afterCertExpiry' }), 'PASS'],
  ['17 no tsa store', 'jws/no_timestamp.jws.sig', D3, ca('alpine-2023'), 'PASS'],
  ['17 permissive', 'jws/no_timestamp.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6, level: 'permissive' }), 'PASS'],
  ['18', 'derived/ts_wrong_imprint.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6 }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['19', 'derived/ts_token_without_cert.jws.sig', D3, ca('alpine-2023', { tsaRoots: R6 }), fails('TIMESTAMP_INVALID', 'authenticTimestamp')],
  ['20', 'derived/alpine_payload_tampered.jws.sig', D2, ca('alpine-2000'), fails('SIGNATURE_INVALID', 'integrity')],
  ['21', 'derived/alpine_payload_tampered.cose.sig', D2, ca('alpine-2000'), fails('SIGNATURE_INVALID', 'integrity')],
  ['21 permissive', 'derived/alpine_payload_tampered.cose.sig', D2, ca('alpine-2000', { level: 'permissive' }), fails('SIGNATURE_INVALID', 'integrity')],
  ['22', 'derived/ca_valid_extra_unrelated_cert.jws.json', D1, ca('notation-test-root'), fails('CERTIFICATE_INVALID', 'integrity')],
  ['23', 'derived/ca_valid_leaf_only.jws.json', D1, ca('notation-test-root'), fails('CERTIFICATE_INVALID', 'integrity')],
];

describe('Notation vectors (CASES.md)', () => {
  it.each(CASES)('case %s: %s', async (_id, file, subject, authority, expected) => {
    const mediaType = file.includes('.cose.') ? 'application/cose' : 'application/jose+json';
    const run = verifyNotationSignature({ envelope: readFileSync(path.join(FIX, 'envelopes', file)), mediaType }, subject, authority, NOW);
    if (expected === 'PASS') {
      const who = await run;
      expect(who.method).toBe('notation');
      expect(who.identity).toMatch(/O=Notary/);
      expect(who.authority).toBe(authority.name);
    } else {
      await expect(run).rejects.toMatchObject({ code: expected.code, details: { check: expected.check } });
    }
  });

  it('case 24: the derived referrer manifests name the envelope bytes, D2 as subject, and the leaf thumbprint', () => {
    for (const [fmt, env] of [['jws', 'jws/alpine.jws.sig'], ['cose', 'cose/alpine.cose.sig']] as const) {
      const m = JSON.parse(readFileSync(path.join(FIX, `oci/referrer-manifest-${fmt}.json`), 'utf8')) as Record<string, any>;
      const bytes = readFileSync(path.join(FIX, 'envelopes', env));
      expect(m.artifactType).toBe('application/vnd.cncf.notary.signature');
      expect(m.layers).toHaveLength(1);
      expect(m.layers[0].digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      expect(m.layers[0].size).toBe(bytes.length);
      expect(m.subject).toMatchObject(D2);
      const leaf = store('ca', 'alpine-2000')[0]!;
      expect(JSON.parse(m.annotations['io.cncf.notary.x509chain.thumbprint#S256'])).toEqual([createHash('sha256').update(leaf.raw).digest('hex')]);
    }
  });

  it('an envelope media type other than JWS or COSE is refused before parsing', async () => {
    await expect(verifyNotationSignature({ envelope: readFileSync(path.join(FIX, 'envelopes/jws/alpine.jws.sig')), mediaType: 'application/json' }, D2, ca('alpine-2000'), NOW))
      .rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    // A JWS handed to the COSE parser (and the reverse) is not silently accepted either.
    await expect(verifyNotationSignature({ envelope: readFileSync(path.join(FIX, 'envelopes/jws/alpine.jws.sig')), mediaType: 'application/cose' }, D2, ca('alpine-2000'), NOW))
      .rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    await expect(verifyNotationSignature({ envelope: readFileSync(path.join(FIX, 'envelopes/cose/alpine.cose.sig')), mediaType: 'application/jose+json' }, D2, ca('alpine-2000'), NOW))
      .rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
  });
});
