import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNotationConfig, notationAuthoritiesFor } from '../../../src/signatures/notation/trust-policy.js';
import { verifyNotationSignature } from '../../../src/signatures/notation/verify.js';
import { tempDir } from '../../harness/process.js';

const FIX = path.join(import.meta.dirname, '../../fixtures/notation');
const STORE = path.join(FIX, 'truststore');

describe('Notation trustpolicy.json and trust store directory', () => {
  it('loads the example policy: one authority per scheme store, tsa roots attached, scopes matched exactly', async () => {
    const cfg = await loadNotationConfig(path.join(FIX, 'trustpolicy.oci.json'), STORE);
    expect(cfg.policies.map((p) => p.name)).toEqual(['notation-test-root', 'alpine-timestamped', 'local-oci-layout']);
    const acme = notationAuthoritiesFor(cfg, 'registry.acme-rockets.io/software/net-monitor');
    expect(acme.map((a) => [a.name, a.signingAuthority ?? false, a.trustStore.length])).toEqual([['notation:notation-test-root', false, 1], ['notation:notation-test-root', true, 1]]);
    const alpine = notationAuthoritiesFor(cfg, 'localhost:5000/alpine');
    expect(alpine).toHaveLength(1);
    expect(alpine[0]!.trustStore).toHaveLength(2);
    expect(alpine[0]!.tsaRoots).toHaveLength(1);
    expect(alpine[0]!.verifyTimestamp).toBe('always');
    expect(() => notationAuthoritiesFor(cfg, 'registry.acme-rockets.io/software/other')).toThrow(expect.objectContaining({ code: 'POLICY_VIOLATION' }));

    // The loaded authorities verify the vectors they were written for.
    const manifest = readFileSync(path.join(FIX, 'oci/manifest-sha256-19dbd2e4.json'));
    const d2 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, size: manifest.length };
    const [local] = notationAuthoritiesFor(cfg, 'local/oci-layout');
    await expect(verifyNotationSignature({ envelope: readFileSync(path.join(FIX, 'envelopes/cose/alpine.cose.sig')), mediaType: 'application/cose' }, d2, local!))
      .resolves.toMatchObject({ identity: 'C=US, ST=WA, L=Seattle, O=Notary, CN=alpine', authority: 'notation:local-oci-layout' });
  });

  it('a global "*" scope applies when no exact scope does', async () => {
    const dir = await tempDir('notation-policy');
    const file = path.join(dir, 'trustpolicy.json');
    await writeFile(file, JSON.stringify({ version: '1.0', trustPolicies: [
      { name: 'exact', registryScopes: ['r.example/a'], signatureVerification: { level: 'strict' }, trustStores: ['ca:alpine-2000'], trustedIdentities: ['*'] },
      { name: 'any', registryScopes: ['*'], signatureVerification: { level: 'permissive' }, trustStores: ['ca:wabbit-networks'], trustedIdentities: ['*'] },
    ] }));
    const cfg = await loadNotationConfig(file, STORE);
    expect(notationAuthoritiesFor(cfg, 'r.example/a')[0]!.name).toBe('notation:exact');
    expect(notationAuthoritiesFor(cfg, 'r.example/b')[0]).toMatchObject({ name: 'notation:any', level: 'permissive' });
  });

  const entry = { name: 'p', registryScopes: ['r.example/a'], signatureVerification: { level: 'strict' }, trustStores: ['ca:alpine-2000'], trustedIdentities: ['*'] };
  it.each([
    ['an unsupported version', { version: '2.0', trustPolicies: [entry] }, /version/],
    ['level audit (authenticity only logged)', { version: '1.0', trustPolicies: [{ ...entry, signatureVerification: { level: 'audit' } }] }, /audit/],
    ['level skip', { version: '1.0', trustPolicies: [{ ...entry, signatureVerification: { level: 'skip' } }] }, /not supported/],
    ['an override', { version: '1.0', trustPolicies: [{ ...entry, signatureVerification: { level: 'strict', override: { expiry: 'log' } } }] }, /override/],
    ['an unknown key', { version: '1.0', trustPolicies: [{ ...entry, trustStore: [] }] }, /unknown key "trustStore"/],
    ['a scope in two policies', { version: '1.0', trustPolicies: [entry, { ...entry, name: 'q' }] }, /more than one policy/],
    ['"*" beside other scopes', { version: '1.0', trustPolicies: [{ ...entry, registryScopes: ['*', 'r.example/b'] }] }, /only registry scope/],
    ['a missing trust store', { version: '1.0', trustPolicies: [{ ...entry, trustStores: ['ca:nope'] }] }, /cannot be read/],
    ['a malformed store name', { version: '1.0', trustPolicies: [{ ...entry, trustStores: ['ca:../ca/alpine-2000'] }] }, /is not <ca/],
    ['only a tsa store', { version: '1.0', trustPolicies: [{ ...entry, trustStores: ['tsa:globalsign-r6'] }] }, /no ca or signingAuthority/],
    ['an identity without C, ST and O', { version: '1.0', trustPolicies: [{ ...entry, trustedIdentities: ['x509.subject:CN=alpine'] }] }, /must name C, ST, O/],
    ['"*" beside identities', { version: '1.0', trustPolicies: [{ ...entry, trustedIdentities: ['*', 'x509.subject:C=US,ST=WA,O=Notary'] }] }, /only trusted identity/],
    ['an identity without the x509.subject: prefix', { version: '1.0', trustPolicies: [{ ...entry, trustedIdentities: ['C=US,ST=WA,O=Notary'] }] }, /x509\.subject:/],
  ])('refuses %s', async (_what, doc, msg) => {
    const file = path.join(await tempDir('notation-policy'), 'trustpolicy.oci.json');
    await writeFile(file, JSON.stringify(doc));
    await expect(loadNotationConfig(file, STORE)).rejects.toMatchObject({ code: 'POLICY_INVALID', message: expect.stringMatching(msg) });
  });

  it('refuses duplicate JSON keys and a trust store file that is not a certificate', async () => {
    const dir = await tempDir('notation-policy');
    const file = path.join(dir, 'trustpolicy.oci.json');
    await writeFile(file, '{"version":"1.0","version":"1.0","trustPolicies":[]}');
    await expect(loadNotationConfig(file, STORE)).rejects.toMatchObject({ code: 'POLICY_INVALID', message: expect.stringMatching(/duplicate/) });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(dir, 'store/x509/ca/junk'), { recursive: true });
    await writeFile(path.join(dir, 'store/x509/ca/junk/readme.txt'), 'not a certificate');
    await writeFile(file, JSON.stringify({ version: '1.0', trustPolicies: [{ ...entry, trustStores: ['ca:junk'] }] }));
    await expect(loadNotationConfig(file, path.join(dir, 'store'))).rejects.toMatchObject({ code: 'POLICY_INVALID', message: expect.stringMatching(/not an X\.509 certificate/) });
  });
});
