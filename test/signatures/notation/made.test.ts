import { X509Certificate } from 'node:crypto';
import cbor from 'cbor';
import { afterAll, describe, expect, it } from 'vitest';
import type { NotationAuthority } from '../../../src/signatures/core/types.js';
import { verifyNotationSignature } from '../../../src/signatures/notation/verify.js';
import { CA_EXT, LEAF_EXT, TestPki, type Issued } from '../../helpers/pki.js';
import { TestTsa } from '../../helpers/tsa.js';
import { signCose, signJws, type EnvelopeSpec } from './sign.js';

/** Envelopes signed here with fresh keys: every field the spec constrains, varied one at a time. */
const JWS = 'application/jose+json';
const COSE = 'application/cose';
const SUBJECT = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 1234 };

describe('Notation envelopes made in the test', () => {
  const pki = new TestPki();
  afterAll(() => pki.dispose());
  const root = pki.root('Notation Root', { type: 'rsa', bits: 3072 });
  const inter = pki.issue(root, 'Notation Intermediate', { type: 'ec', curve: 'P-384' }, `${CA_EXT}\nbasicConstraints=critical,CA:TRUE,pathlen:0`);
  const leaf = pki.issue(inter, 'signer', { type: 'ec', curve: 'P-256' }, LEAF_EXT);
  const rsaLeaf = pki.issue(inter, 'rsa-signer', { type: 'rsa', bits: 3072 }, LEAF_EXT);
  const chain = [leaf.certPem, inter.certPem, root.certPem];
  const cert = (i: Issued) => new X509Certificate(i.certPem);
  const authority = (extra: Partial<NotationAuthority> = {}): NotationAuthority => ({ kind: 'notation', name: 'acme', trustStore: [cert(root)], trustedIdentities: ['*'], ...extra });
  const spec = (extra: Partial<EnvelopeSpec> = {}): EnvelopeSpec => ({ key: leaf.key, chain, alg: 'ES256', subject: SUBJECT, ...extra });
  const verify = (envelope: Buffer, mediaType: string, a = authority(), subject = SUBJECT) => verifyNotationSignature({ envelope, mediaType }, subject, a);

  it('JWS (ES256) and COSE (ES256, PS384) over a three-certificate chain verify; the signer is the leaf', async () => {
    await expect(verify(signJws(spec()), JWS)).resolves.toMatchObject({ method: 'notation', identity: 'CN=signer', issuer: 'CN=Notation Intermediate', authority: 'acme' });
    await expect(verify(signCose(spec()), COSE)).resolves.toMatchObject({ identity: 'CN=signer' });
    await expect(verify(signCose(spec({ key: rsaLeaf.key, alg: 'PS384', chain: [rsaLeaf.certPem, inter.certPem, root.certPem] })), COSE)).resolves.toMatchObject({ identity: 'CN=rsa-signer' });
    // A trust store holding the intermediate only vouches as well: any chain certificate byte-equal to a store certificate.
    await expect(verify(signJws(spec()), JWS, authority({ trustStore: [cert(inter)] }))).resolves.toMatchObject({ identity: 'CN=signer' });
  });

  it('a signature for another descriptor, or with one byte changed, is refused', async () => {
    for (const [env, mt] of [[signJws(spec()), JWS], [signCose(spec()), COSE]] as const) {
      await expect(verify(env, mt, authority(), { ...SUBJECT, size: 1235 })).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
    }
    const j = JSON.parse(signJws(spec()).toString()) as { signature: string };
    const sig = Buffer.from(j.signature, 'base64url');
    sig[5] ^= 1;
    await expect(verify(Buffer.from(JSON.stringify({ ...j, signature: sig.toString('base64url') })), JWS)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    const c = signCose(spec());
    c[c.length - 3] ^= 1;
    await expect(verify(c, COSE)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    // Another payload under the original signature: the signature covers the exact payload bytes.
    const other = JSON.parse(signJws(spec({ subject: { ...SUBJECT, size: 1 } })).toString()) as { payload: string };
    await expect(verify(Buffer.from(JSON.stringify({ ...JSON.parse(signJws(spec()).toString()), payload: other.payload })), JWS, authority(), { ...SUBJECT, size: 1 }))
      .rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('header rules: alg must fit the key; cty, scheme, crit and times as the spec says', async () => {
    const refuse = async (env: Buffer, mt: string, code: string, msg: RegExp) => expect(verify(env, mt)).rejects.toMatchObject({ code, message: expect.stringMatching(msg) });
    await refuse(signJws(spec({ alg: 'ES384' })), JWS, 'SIGNATURE_INVALID', /does not match the signing key/);
    await refuse(signJws(spec({ cty: 'application/json' })), JWS, 'BUNDLE_INVALID', /content type/);
    await refuse(signCose(spec({ cty: 'application/json' })), COSE, 'BUNDLE_INVALID', /content type/);
    await refuse(signJws(spec({ scheme: 'notary.x509.other' })), JWS, 'BUNDLE_INVALID', /signing scheme/);
    await refuse(signJws(spec({ expiry: new Date(Date.now() + 3600_000), crit: ['io.cncf.notary.signingScheme'] })), JWS, 'BUNDLE_INVALID', /expiry must be listed in crit/);
    await refuse(signJws(spec({ crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.expiry'] })), JWS, 'BUNDLE_INVALID', /does not carry/);
    await refuse(signJws(spec({ crit: ['io.cncf.notary.signingScheme', 'acme.custom'], extra: { 'acme.custom': 1 } })), JWS, 'BUNDLE_INVALID', /not understood/);
    await refuse(signCose(spec({ crit: ['io.cncf.notary.signingScheme', 'acme.custom'], extra: { 'acme.custom': 1 } })), COSE, 'BUNDLE_INVALID', /not understood/);
    await refuse(signJws(spec({ crit: [] })), JWS, 'BUNDLE_INVALID', /crit/);
    await refuse(signJws(spec({ extra: { 'io.cncf.notary.signingTime': 'yesterday' } })), JWS, 'BUNDLE_INVALID', /RFC 3339/);
    await refuse(signJws(spec({ authenticSigningTime: new Date() })), JWS, 'BUNDLE_INVALID', /must not carry/);
    await refuse(signJws(spec({ scheme: 'notary.x509.signingAuthority' })), JWS, 'BUNDLE_INVALID', /requires io.cncf.notary.authenticSigningTime/);
    // An unknown non-critical extended attribute is fine.
    await expect(verify(signJws(spec({ extra: { 'acme.note': 'hello' } })), JWS)).resolves.toBeTruthy();
  });

  it('expiry: a past expiry is refused (strict) and logged (permissive); a future one passes', async () => {
    await expect(verify(signCose(spec({ expiry: new Date(Date.now() - 1000) })), COSE)).rejects.toMatchObject({ code: 'SIGNATURE_EXPIRED', details: { check: 'expiry' } });
    await expect(verify(signCose(spec({ expiry: new Date(Date.now() - 1000) })), COSE, authority({ level: 'permissive' }))).resolves.toBeTruthy();
    await expect(verify(signJws(spec({ expiry: new Date(Date.now() + 3600_000) })), JWS)).resolves.toBeTruthy();
  });

  it('JWS structure: exactly four members, unpadded base64url, no duplicate header names, standard base64 x5c', async () => {
    await expect(verify(signJws(spec(), { topLevel: { extra: 1 } }), JWS)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/exactly the members/) });
    const j = JSON.parse(signJws(spec()).toString()) as Record<string, any>;
    await expect(verify(Buffer.from(JSON.stringify({ ...j, signature: `${j.signature}=` })), JWS)).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    const dup = signJws(spec(), { protectedJson: (s) => s.replace('{', '{"cty":"application/json",') });
    await expect(verify(dup, JWS)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/duplicate/) });
    await expect(verify(Buffer.from(JSON.stringify({ ...j, header: { x5c: j.header.x5c.map((c: string) => Buffer.from(c, 'base64').toString('base64url')) } })), JWS))
      .rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/standard base64/) });
    await expect(verify(Buffer.from(JSON.stringify({ ...j, header: {} })), JWS)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/x5c/) });
    await expect(verify(Buffer.from('{"payload":'), JWS)).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
  });

  it('COSE structure: tag 18, tag 1 times only (not untagged, not tag 0), x5chain as an array', async () => {
    await expect(verify(signCose(spec(), { untagged: true }), COSE)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/tag 18/) });
    await expect(verify(signCose(spec(), { time: (t) => Math.floor(t.getTime() / 1000) }), COSE)).rejects.toMatchObject({ message: expect.stringMatching(/tag 1/) });
    await expect(verify(signCose(spec(), { time: (t) => new cbor.Tagged(0, t.toISOString()) }), COSE)).rejects.toMatchObject({ message: expect.stringMatching(/tag 1/) });
    await expect(verify(signCose(spec({ chain: [leaf.certPem] }), { x5chain: (d) => d[0] }), COSE)).rejects.toMatchObject({ message: expect.stringMatching(/x5chain/) });
    await expect(verify(Buffer.from([0xd2, 0x84, 0x40]), COSE)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/CBOR/) });
  });

  it('certificate rules: order, self-signed root, CA and leaf profiles, path length', async () => {
    const refuse = async (s: Partial<EnvelopeSpec>, msg: RegExp, a = authority()) =>
      expect(verify(signJws(spec(s)), JWS, a)).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', details: { check: 'integrity' }, message: expect.stringMatching(msg) });
    await refuse({ chain: [leaf.certPem, root.certPem, inter.certPem] }, /not issued by|self-signed/);
    await refuse({ chain: [leaf.certPem, inter.certPem] }, /not self-signed/, authority({ trustStore: [cert(inter)] }));
    const serverAuth = pki.issue(inter, 'web', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,codeSigning');
    await refuse({ key: serverAuth.key, chain: [serverAuth.certPem, inter.certPem, root.certPem] }, /serverAuth/);
    const softKu = pki.issue(inter, 'soft', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=codeSigning');
    await refuse({ key: softKu.key, chain: [softKu.certPem, inter.certPem, root.certPem] }, /critical KeyUsage/);
    const encipher = pki.issue(inter, 'enc', { type: 'ec', curve: 'P-256' }, 'keyUsage=critical,digitalSignature,keyAgreement');
    await refuse({ key: encipher.key, chain: [encipher.certPem, inter.certPem, root.certPem] }, /keyAgreement/);
    const caLeaf = pki.issue(inter, 'ca-leaf', { type: 'ec', curve: 'P-256' }, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign');
    await refuse({ key: caLeaf.key, chain: [caLeaf.certPem, inter.certPem, root.certPem] }, /is a CA/);
    // pathlen:0 on the intermediate forbids another intermediate below it.
    const inter2 = pki.issue(inter, 'Second Intermediate', { type: 'ec', curve: 'P-256' }, CA_EXT);
    const deep = pki.issue(inter2, 'deep', { type: 'ec', curve: 'P-256' }, LEAF_EXT);
    await refuse({ key: deep.key, chain: [deep.certPem, inter2.certPem, inter.certPem, root.certPem] }, /allows 0 intermediates/);
    const small = pki.issue(inter, 'small', { type: 'rsa', bits: 1024 }, LEAF_EXT);
    await refuse({ key: small.key, alg: 'PS256', chain: [small.certPem, inter.certPem, root.certPem] }, /shorter than 2048/);
  });

  it('authenticity: the trust store and identities decide; the scheme picks the store type', async () => {
    const stranger = pki.root('Stranger Root');
    await expect(verify(signJws(spec()), JWS, authority({ trustStore: [cert(stranger)] }))).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER', details: { check: 'authenticity' } });
    await expect(verify(signJws(spec()), JWS, authority({ trustedIdentities: ['x509.subject:CN=signer,O=Acme,ST=WA,C=US'] }))).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
    await expect(verify(signJws(spec()), JWS, authority({ trustedIdentities: ['x509.subject:CN=signer'] }))).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(verify(signJws(spec()), JWS, authority({ signingAuthority: true }))).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    const saSpec = spec({ scheme: 'notary.x509.signingAuthority', authenticSigningTime: new Date() });
    await expect(verify(signCose(saSpec), COSE, authority({ signingAuthority: true }))).resolves.toMatchObject({ identity: 'CN=signer' });
    await expect(verify(signCose(saSpec), COSE)).rejects.toMatchObject({ code: 'UNTRUSTED_SIGNER' });
    // An authentic signing time before the leaf's notBefore is outside its validity.
    const early = spec({ scheme: 'notary.x509.signingAuthority', authenticSigningTime: new Date('2001-01-01T00:00:00Z') });
    await expect(verify(signJws(early), JWS, authority({ signingAuthority: true }))).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', details: { check: 'authenticTimestamp' } });
  });

  it('identities match the leaf subject attribute by attribute, with escapes', async () => {
    const named = pki.issue(inter, 'x', { type: 'ec', curve: 'P-256' }, LEAF_EXT);
    // TestPki names leafs CN only; re-issue its key with C, ST, O and an escaped comma via openssl directly.
    const { execFileSync } = await import('node:child_process');
    const { writeFileSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = pki.dir;
    writeFileSync(join(dir, 'o.ext'), LEAF_EXT);
    execFileSync('openssl', ['req', '-new', '-key', named.keyPath, '-out', join(dir, 'o.csr'), '-subj', '/C=US/ST=WA/O=Acme\\, Inc./CN=release', '-config', '/dev/null']);
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'o.csr'), '-CA', inter.certPath, '-CAkey', inter.keyPath, '-CAcreateserial', '-days', '30', '-extfile', join(dir, 'o.ext'), '-out', join(dir, 'o.pem')], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'o.pem'), 'utf8');
    const env = signJws(spec({ key: named.key, chain: [pem, inter.certPem, root.certPem] }));
    await expect(verify(env, JWS, authority({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme\\, Inc.'] }))).resolves.toMatchObject({ identity: expect.stringContaining('CN=release') });
    await expect(verify(env, JWS, authority({ trustedIdentities: ['x509.subject:C=US,S=WA,O=Acme\\, Inc.,CN=release'] }))).resolves.toBeTruthy();
    await expect(verify(env, JWS, authority({ trustedIdentities: ['x509.subject:C=US,ST=WA,O=Acme'] }))).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
  });

  it('RFC 3161 countersignature from a test TSA: verified when present, required when the policy says always', async () => {
    const tsa = new TestTsa(pki);
    const tsaRoots = [cert(tsa.root)];
    const stamped = spec({ timestamp: (sig) => tsa.stamp(sig) });
    await expect(verify(signJws(stamped), JWS, authority({ tsaRoots }))).resolves.toBeTruthy();
    await expect(verify(signCose(stamped), COSE, authority({ tsaRoots }))).resolves.toBeTruthy();
    await expect(verify(signJws(spec()), JWS, authority({ tsaRoots }))).rejects.toMatchObject({ code: 'TIMESTAMP_INVALID', details: { check: 'authenticTimestamp' } });
    await expect(verify(signJws(spec()), JWS, authority({ tsaRoots, verifyTimestamp: 'afterCertExpiry' }))).resolves.toBeTruthy();
    // A token over other bytes (the payload instead of the signature) is refused.
    const wrong = spec({ timestamp: () => tsa.stamp(Buffer.from('not the signature')) });
    await expect(verify(signCose(wrong), COSE, authority({ tsaRoots }))).rejects.toMatchObject({ code: 'TIMESTAMP_INVALID', message: expect.stringMatching(/messageImprint/) });
    await expect(verify(signJws(stamped), JWS, authority({ tsaRoots: [cert(root)] }))).rejects.toMatchObject({ code: 'TIMESTAMP_INVALID', message: expect.stringMatching(/TSA chain/) });
  });

  it('an expired leaf without a trusted timestamp is refused', async () => {
    const old = pki.issue(inter, 'old', { type: 'ec', curve: 'P-256' }, LEAF_EXT, { start: '20200101000000Z', end: '20210101000000Z' });
    await expect(verify(signJws(spec({ key: old.key, chain: [old.certPem, inter.certPem, root.certPem] })), JWS))
      .rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', details: { check: 'authenticTimestamp' }, message: expect.stringMatching(/expired/) });
  });
});
