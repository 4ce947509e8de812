import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCertificates } from '../../../src/signatures/core/keys.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { requestTimestamp } from '../../../src/signatures/oms/tsa-client.js';
import { checkTsaChain, verifiedSigningTimes } from '../../../src/signatures/oms/tsa-verify.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { MANIFEST } from '../../helpers/bundles.js';
import { LEAF_EXT, TestPki } from '../../helpers/pki.js';
import { startTsa, type TsaServer } from './tsa-server.js';

let pki: TestPki;
let tsa: TsaServer;
let otherTsa: TsaServer;
let tsaChain: X509Certificate[];

beforeAll(async () => {
  pki = new TestPki();
  tsa = await startTsa(pki, 'tsa');
  otherTsa = await startTsa(pki, 'rogue-tsa');
  tsaChain = checkTsaChain(loadCertificates(tsa.chainPem, 'tsa chain'), 'tsa chain');
});
afterAll(async () => {
  await tsa?.close();
  await otherTsa?.close();
  pki?.dispose();
});

const fmt = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
const json = (text: string) => JSON.parse(text) as Record<string, any>;

describe('RFC 3161 timestamps on key and certificate bundles', () => {
  it('key: the bundle carries a TimeStampResp over the signature; a trusted TSA gives signedAt', async () => {
    const root = pki.root('tsa-key-holder', { type: 'ec', curve: 'P-256' });
    const before = Date.now() - 2000;
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: root.key, tsaUrl: tsa.url });
    const bundle = json(text);
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
    const key = new X509Certificate(root.certPem).publicKey;
    const trusted = await verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [key], timestampAuthorities: [tsaChain] }]);
    expect(Date.parse(trusted.signer.signedAt!)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(trusted.signer.signedAt!)).toBeLessThanOrEqual(Date.now() + 2000);
    // Without TSA trust the key signature still verifies, with no time claimed.
    const plain = await verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [key] }]);
    expect(plain.signer.signedAt).toBeUndefined();
    // Another TSA's trust does not make this token count.
    const rogue = checkTsaChain(loadCertificates(otherTsa.chainPem, 'rogue'), 'rogue');
    expect((await verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [key], timestampAuthorities: [rogue] }])).signer.signedAt).toBeUndefined();
  });

  it('certificate: a signature outlives its certificate when a trusted timestamp proves it was made in time', async () => {
    const root = pki.root('short-root', { type: 'ec', curve: 'P-256' });
    // Valid from yesterday until three seconds from now.
    const expiry = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000);
    const leaf = pki.issue(root, 'short-lived', { type: 'ec', curve: 'P-256' }, LEAF_EXT, { end: fmt(expiry) });
    const spec = { kind: 'certificate' as const, privateKey: leaf.key, leafPem: leaf.certPem, chainPems: [] };
    const stamped = await signManifest(MANIFEST, { ...spec, tsaUrl: tsa.url });
    const unstamped = await signManifest(MANIFEST, spec);
    // Timestamps from a TSA nobody trusts, and one moved over from another signature.
    const rogue = await signManifest(MANIFEST, { ...spec, tsaUrl: otherTsa.url });
    const moved = json(unstamped);
    moved.verificationMaterial.timestampVerificationData = json(stamped).verificationMaterial.timestampVerificationData;
    expect(json(stamped).dsseEnvelope.signatures[0].sig).not.toBe(moved.dsseEnvelope.signatures[0].sig);

    const anchors = [new X509Certificate(root.certPem)];
    const trusting: Authority[] = [{ kind: 'certificate', anchors, timestampAuthorities: [tsaChain] }];
    await expect(verifyModelSignature(Buffer.from(stamped), trusting)).resolves.toBeDefined();
    await new Promise((r) => setTimeout(r, Math.max(0, expiry.getTime() - Date.now()) + 1100));

    const ok = await verifyModelSignature(Buffer.from(stamped), trusting);
    expect(Date.parse(ok.signer.signedAt!)).toBeLessThanOrEqual(expiry.getTime());
    await expect(verifyModelSignature(Buffer.from(stamped), [{ kind: 'certificate', anchors }])).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID', message: expect.stringContaining('expired') });
    await expect(verifyModelSignature(Buffer.from(unstamped), trusting)).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
    await expect(verifyModelSignature(Buffer.from(rogue), trusting)).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
    await expect(verifyModelSignature(Buffer.from(JSON.stringify(moved)), trusting)).rejects.toMatchObject({ code: 'CERTIFICATE_INVALID' });
  });

  it('ignores garbage and refuses malformed timestamp lists', () => {
    const sig = Buffer.from('signature');
    const garbage = { verificationMaterial: { timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: Buffer.from('not DER').toString('base64') }] } } };
    expect(verifiedSigningTimes(garbage, sig, [tsaChain])).toEqual([]);
    const notList = { verificationMaterial: { timestampVerificationData: { rfc3161Timestamps: { signedTimestamp: 'AA==' } } } };
    expect(() => verifiedSigningTimes(notList, sig, [tsaChain])).toThrow(expect.objectContaining({ code: 'BUNDLE_INVALID' }));
    const many = { verificationMaterial: { timestampVerificationData: { rfc3161Timestamps: Array.from({ length: 9 }, () => ({ signedTimestamp: 'AA==' })) } } };
    expect(() => verifiedSigningTimes(many, sig, [tsaChain])).toThrow(/more than 8/);
  });

  it('trusts only TSA certificates: a chain whose first certificate lacks the timeStamping EKU is a configuration error', () => {
    const root = pki.root('not-a-tsa', { type: 'ec', curve: 'P-256' });
    const leaf = pki.issue(root, 'code-signer', { type: 'ec', curve: 'P-256' }, LEAF_EXT);
    expect(() => checkTsaChain(loadCertificates(leaf.certPem + root.certPem, 'x'), 'x')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('TSA client', () => {
  it('refuses a reply that is not for this request, an HTTP error, and a non-http URL', async () => {
    // A replaying "TSA": answers every request with the first reply it got from the real one.
    const first = await requestTimestamp(tsa.url, Buffer.from('first signature'));
    const replay = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'application/timestamp-reply' }).end(first));
    });
    await new Promise<void>((r) => replay.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(replay.address() as AddressInfo).port}`;
    try {
      await expect(requestTimestamp(`${base}/tsr`, Buffer.from('second signature'))).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringContaining('imprint') });
      await expect(requestTimestamp(`${base}/fail`, Buffer.from('x'))).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringContaining('503') });
      await expect(requestTimestamp('file:///etc/passwd', Buffer.from('x'))).rejects.toMatchObject({ code: 'USAGE' });
    } finally {
      await new Promise<void>((r) => replay.close(() => r()));
    }
  });
});
