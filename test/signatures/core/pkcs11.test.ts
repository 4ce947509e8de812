import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { omsKeyHint } from '../../../src/signatures/core/key-ids.js';
import { openPkcs11Key } from '../../../src/signatures/core/pkcs11.js';
import { parsePkcs11Uri, redactedPkcs11Uri } from '../../../src/signatures/core/pkcs11-uri.js';
import { signBlob } from '../../../src/signatures/blob/sign.js';
import { verifyBlob } from '../../../src/signatures/blob/verify.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import { MANIFEST } from '../../helpers/bundles.js';
import { TestPki } from '../../helpers/pki.js';
import { SOFTHSM_MODULE, SoftHsm } from './softhsm.js';

const TOKEN = 'modelseal test';
const PIN = '24681357';
let hsm: SoftHsm;
let pki: TestPki;
let chain: ReturnType<TestPki['chain']>;
let pinFile: string;

const uri = (path: string, query = `module-path=${SOFTHSM_MODULE}&pin-value=${PIN}`) => `pkcs11:token=modelseal%20test;${path}?${query}`;

beforeAll(() => {
  hsm = new SoftHsm();
  hsm.initToken(TOKEN, PIN);
  hsm.generateEcKey(TOKEN, PIN, 'secp256r1', 'release-p256', '01');
  hsm.generateEcKey(TOKEN, PIN, 'secp384r1', 'release-p384', 'a0ff');
  pki = new TestPki();
  chain = pki.chain(['p11-root', 'p11-int', 'p11-leaf'], [{ type: 'rsa' }, { type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-384' }]);
  // A certificate's key made in the test and moved into the token: pkcs11-certificate signs with it there.
  hsm.importKey(TOKEN, PIN, chain.leaf.keyPath, 'leaf', '0c');
  pinFile = join(hsm.dir, 'pin');
  writeFileSync(pinFile, `${PIN}\n`);
});
afterAll(() => {
  hsm?.dispose();
  pki?.dispose();
});

describe('RFC 7512 URIs', () => {
  it('decodes path and query attributes; id is bytes', () => {
    const u = parsePkcs11Uri('pkcs11:token=My%20Token;object=k%3b1;id=%01%A0;type=private?module-name=softhsm2&pin-value=12%2634');
    expect(Object.fromEntries(u.path)).toEqual({ token: 'My Token', object: 'k;1', id: '01a0', type: 'private' });
    expect(Object.fromEntries(u.query)).toEqual({ 'module-name': 'softhsm2', 'pin-value': '12&34' });
    expect(redactedPkcs11Uri('pkcs11:token=a?pin-value=1234&module-path=/m.so')).toBe('pkcs11:token=a?pin-value=***&module-path=/m.so');
  });

  const bad: [string, RegExp][] = [
    ['https://token', /does not start with pkcs11:/],
    ['pkcs11:token=a;token=b', /appears twice/],
    ['pkcs11:tokn=a', /unknown path attribute "tokn"/],
    ['pkcs11:token=a?pin=1', /unknown query attribute "pin"/],
    ['pkcs11:object=a%zz', /malformed percent-escape/],
    ['pkcs11:object=a%0a', /control characters/],
    ['pkcs11:object=a?pin-value=1&pin-source=/p', /both pin-value and pin-source/],
    ['pkcs11:type=thing', /type=thing/],
    ['pkcs11:slot-id=0x1', /slot-id is not a decimal/],
    ['pkcs11:object', /not name=value/],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${text}`, () => {
      expect(() => parsePkcs11Uri(text)).toThrow(why);
    });
  }
});

describe('signing with keys generated inside a SoftHSM2 token', () => {
  it('pkcs11-key P-256 by label: OMS bundle with the OMS hint, verifies with the token public key', async () => {
    const key = await openPkcs11Key(uri('object=release-p256'));
    expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: key });
    const bundle = JSON.parse(text) as { verificationMaterial: { publicKey: { hint: string } } };
    expect(bundle.verificationMaterial.publicKey.hint).toBe(omsKeyHint(key.publicKey));
    const v = await verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [key.publicKey] }]);
    expect(v.manifest).toEqual(MANIFEST);
  });

  it('P-384 by id (bytes), PIN from pin-source, module from --module-path: SHA-384 DSSE and a prehashed blob', async () => {
    const key = await openPkcs11Key(`pkcs11:token=modelseal%20test;id=%a0%FF?pin-source=file:${pinFile}`, { modulePath: SOFTHSM_MODULE });
    expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    const text = await signManifest(MANIFEST, { kind: 'key', privateKey: key });
    await expect(verifyModelSignature(Buffer.from(text), [{ kind: 'key', publicKeys: [key.publicKey] }])).resolves.toMatchObject({ signer: { method: 'key' } });
    const blob = join(hsm.dir, 'blob.bin');
    writeFileSync(blob, Buffer.alloc(100_000, 9));
    const b = await signBlob(blob, { kind: 'key', privateKey: key });
    await expect(verifyBlob(blob, Buffer.from(b), [{ kind: 'key', publicKeys: [key.publicKey] }])).resolves.toMatchObject({ method: 'key' });
  });

  it('pkcs11-certificate: the token key with its certificate chain verifies against the root', async () => {
    const leaf = new X509Certificate(chain.leaf.certPem);
    const key = await openPkcs11Key(uri('object=leaf;id=%0c'), { publicKey: leaf.publicKey });
    const text = await signManifest(MANIFEST, { kind: 'certificate', privateKey: key, leafPem: chain.leaf.certPem, chainPems: [chain.intermediate.certPem] });
    const v = await verifyModelSignature(Buffer.from(text), [{ kind: 'certificate', anchors: [new X509Certificate(chain.root.certPem)] }]);
    expect(v.signer.method).toBe('certificate');
  });

  it('a certificate for another key is caught at signing: the token signature does not verify with it', async () => {
    const leaf = new X509Certificate(chain.leaf.certPem);
    const key = await openPkcs11Key(uri('object=release-p384'), { publicKey: leaf.publicKey });
    await expect(signManifest(MANIFEST, { kind: 'certificate', privateKey: key, leafPem: chain.leaf.certPem, chainPems: [] })).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('does not verify'),
    });
  });

  it('fails closed: wrong PIN, unknown token, unknown key, no key selector, missing module, unsupported selector', async () => {
    await expect(openPkcs11Key(uri('object=release-p256', `module-path=${SOFTHSM_MODULE}&pin-value=0000`))).rejects.toMatchObject({ code: 'KEY_PASSWORD' });
    await expect(openPkcs11Key(`pkcs11:token=nope;object=release-p256?module-path=${SOFTHSM_MODULE}&pin-value=${PIN}`)).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('no PKCS#11 token matches'),
    });
    await expect(openPkcs11Key(uri('object=absent'))).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('0 private keys matching') });
    await expect(openPkcs11Key(uri('type=private'))).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('names no key') });
    await expect(openPkcs11Key(uri('object=release-p256', `module-path=/nonexistent/module.so&pin-value=${PIN}`))).rejects.toMatchObject({ code: 'USAGE' });
    await expect(openPkcs11Key(uri('object=release-p256;library-version=2'))).rejects.toMatchObject({ code: 'USAGE' });
    await expect(openPkcs11Key(uri('object=release-p256;type=cert'))).rejects.toMatchObject({ code: 'USAGE' });
    // The PIN never shows in an error.
    const err = await openPkcs11Key(`pkcs11:token=nope;object=x?module-path=${SOFTHSM_MODULE}&pin-value=SECRETPIN`).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toContain('SECRETPIN');
  });

  it('selects the token by serial and model as well as by label', async () => {
    const { execFileSync } = await import('node:child_process');
    const listing = execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--list-token-slots'], { env: hsm.env, encoding: 'utf8' });
    const serial = /serial num\s*: (\S+)/.exec(listing)![1]!;
    const key = await openPkcs11Key(`pkcs11:model=SoftHSM%20v2;serial=${serial};object=release-p256?module-path=${SOFTHSM_MODULE}&pin-value=${PIN}`);
    expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    await expect(openPkcs11Key(`pkcs11:serial=0000;object=release-p256?module-path=${SOFTHSM_MODULE}&pin-value=${PIN}`)).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});
