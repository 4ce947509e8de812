import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyTimestampToken } from '../../../src/signatures/core/timestamp.js';
import { TestPki } from '../../helpers/pki.js';
import { TestTsa } from '../../helpers/tsa.js';

const FIX = path.join(import.meta.dirname, '../../fixtures/notation');
const fixtureCert = (p: string) => new X509Certificate(readFileSync(path.join(FIX, 'truststore/x509', p)));

describe('RFC 3161 timestamp tokens', () => {
  const pki = new TestPki();
  afterAll(() => pki.dispose());
  const tsa = new TestTsa(pki);
  const root = new X509Certificate(tsa.root.certPem);
  const message = Buffer.from('the raw signature bytes');

  it('a token from a real TSA verifies: imprint, CMS signature, ESS binding, chain to the TSA root', () => {
    const before = Date.now();
    const v = verifyTimestampToken(tsa.stamp(message), message, [root]);
    expect(v.tsa.subject).toContain('CN=Test TSA');
    expect(v.accuracyMs).toBe(1000);
    expect(v.genTime.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(v.latest.getTime() - v.earliest.getTime()).toBe(2000);
    expect(v.policy).toBe('1.2.3.4.1');
  });

  it('an ECDSA TSA verifies too', () => {
    const ec = new TestTsa(pki, { key: { type: 'ec', curve: 'P-256' } });
    expect(verifyTimestampToken(ec.stamp(message), message, [new X509Certificate(ec.root.certPem)]).tsa.subject).toContain('Test TSA');
  });

  it('refuses a token for another message, from an untrusted TSA, or altered in any signed byte', () => {
    const tok = tsa.stamp(message);
    expect(() => verifyTimestampToken(tok, Buffer.from('another signature'), [root])).toThrow(/messageImprint/);
    const other = new TestTsa(pki);
    expect(() => verifyTimestampToken(tok, message, [new X509Certificate(other.root.certPem)])).toThrow(expect.objectContaining({ code: 'TIMESTAMP_INVALID', message: expect.stringMatching(/TSA chain/) }));
    // Flip one byte of the genTime inside the TSTInfo: the signed messageDigest no longer matches.
    const i = tok.indexOf(Buffer.from(`${new Date().getUTCFullYear()}`, 'latin1'));
    const t2 = Buffer.from(tok);
    t2[i + 3] ^= 1;
    expect(() => verifyTimestampToken(t2, message, [root])).toThrow(expect.objectContaining({ code: 'TIMESTAMP_INVALID' }));
    // Flip the last byte: the CMS signature itself.
    const t3 = Buffer.from(tok);
    t3[t3.length - 1] ^= 1;
    expect(() => verifyTimestampToken(t3, message, [root])).toThrow(/CMS signature does not verify/);
    expect(() => verifyTimestampToken(tok.subarray(0, tok.length - 10), message, [root])).toThrow(expect.objectContaining({ code: 'TIMESTAMP_INVALID' }));
    expect(() => verifyTimestampToken(Buffer.alloc(70_000), message, [root])).toThrow(/over the/);
  });

  // The critical timeStamping-only EKU rule has no test token: `openssl ts -reply` refuses to sign
  // with such a certificate ("invalid signer certificate purpose").
  it('refuses a token that binds its certificate only with the SHA-1 ESS signing-certificate (v1)', () => {
    const v1 = new TestTsa(pki, { essV2: false });
    expect(() => verifyTimestampToken(v1.stamp(message), message, [new X509Certificate(v1.root.certPem)])).toThrow(/signing-certificate-v2/);
  });

  it('verifies the GlobalSign token in the Notation vectors and refuses it under the wrong root or without its certificate', () => {
    const env = JSON.parse(readFileSync(path.join(FIX, 'envelopes/jws/ts_valid.jws.sig'), 'utf8')) as { signature: string; header: Record<string, string> };
    const tok = Buffer.from(env.header['io.cncf.notary.timestampSignature']!, 'base64');
    const sig = Buffer.from(env.signature, 'base64url');
    const v = verifyTimestampToken(tok, sig, [fixtureCert('tsa/globalsign-r6/globalsignRoot.cer')]);
    expect(v.genTime.toISOString()).toBe('2024-06-18T06:29:37.000Z');
    expect(v.accuracyMs).toBe(1000);
    expect(() => verifyTimestampToken(tok, sig, [fixtureCert('tsa/digicert-g4-wrong/DigiCertTSARootSHA384.cer')])).toThrow(/TSA chain/);
    const noCert = JSON.parse(readFileSync(path.join(FIX, 'envelopes/derived/ts_token_without_cert.jws.sig'), 'utf8')) as typeof env;
    expect(() => verifyTimestampToken(Buffer.from(noCert.header['io.cncf.notary.timestampSignature']!, 'base64'), Buffer.from(noCert.signature, 'base64url'), [fixtureCert('tsa/globalsign-r6/globalsignRoot.cer')]))
      .toThrow(/signing certificate not found/);
  });
});
