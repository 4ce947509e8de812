import { createPublicKey, generateKeyPairSync, randomBytes, scryptSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/signatures/cosign/key-file.js';
import { loadCertificates, loadPrivateKey, loadPublicKeys } from '../../../src/signatures/core/keys.js';
import { envOrPromptPassword } from '../../../src/signatures/core/password.js';
import { toPem } from '../../../src/signatures/core/pem.js';

const GOLDEN = new URL('../../fixtures/oms-golden/keys/certificate/', import.meta.url);
const pw = (s: string) => async () => s;
const noPassword = async (): Promise<string> => {
  throw new Error('password must not be asked for an unencrypted key');
};

/** An independent encoder of cosign's encrypted key format (go-securesystemslib `encrypted`). */
function cosignPem(plain: Buffer, password: string, params = { N: 32768, r: 8, p: 1 }, label = 'ENCRYPTED COSIGN PRIVATE KEY'): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = scryptSync(password, salt, 32, { ...params, maxmem: 256 * 2 ** 20 });
  const body = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(nacl.secretbox(plain, nonce, key)).toString('base64'),
  };
  return toPem(label, Buffer.from(JSON.stringify(body)));
}

describe('private keys', () => {
  for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
    it(`loads PKCS#8 and SEC1 ${curve}`, async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      for (const type of ['pkcs8', 'sec1'] as const) {
        const key = await loadPrivateKey(privateKey.export({ type, format: 'pem' }) as string, 'k', noPassword);
        expect(key.asymmetricKeyDetails?.namedCurve).toBe(privateKey.asymmetricKeyDetails?.namedCurve);
      }
    });
  }

  it('loads the golden SEC1 key behind certtool text', async () => {
    const key = await loadPrivateKey(readFileSync(new URL('signing-key.pem', GOLDEN), 'utf8'), 'signing-key.pem', noPassword);
    const cert = new X509Certificate(readFileSync(new URL('signing-key-cert.pem', GOLDEN)));
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(cert.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('rejects RSA, Ed25519 and other curves with a clear message', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    await expect(loadPrivateKey(rsa.export({ type: 'pkcs1', format: 'pem' }) as string, 'rsa.pem', noPassword)).rejects.toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('RSA PRIVATE KEY keys cannot sign'),
    });
    await expect(loadPrivateKey(rsa.export({ type: 'pkcs8', format: 'pem' }) as string, 'rsa8.pem', noPassword)).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('rsa') });
    await expect(loadPrivateKey(ed.export({ type: 'pkcs8', format: 'pem' }) as string, 'ed.pem', noPassword)).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('ed25519') });
    await expect(loadPrivateKey(k1.export({ type: 'pkcs8', format: 'pem' }) as string, 'k1.pem', noPassword)).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('rejects files with zero or two private keys', async () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expect(loadPrivateKey('nothing here', 'x', noPassword)).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await expect(loadPrivateKey(a + a, 'x', noPassword)).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('found 2') });
  });

  it('decrypts encrypted PKCS#8 with the password, and says so when it is wrong', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' }) as string;
    expect((await loadPrivateKey(pem, 'enc.pem', pw('pass'))).asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    await expect(loadPrivateKey(pem, 'enc.pem', pw('nope'))).rejects.toMatchObject({ code: 'KEY_PASSWORD' });
  });
});

describe('cosign encrypted keys', () => {
  it('generateKeyPair writes a SIGSTORE key (scrypt N=65536) that loads back with its password', async () => {
    const { privatePem, publicPem } = await generateKeyPair('correct horse');
    expect(privatePem).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const body = JSON.parse(Buffer.from(privatePem.split('\n').slice(1, -2).join(''), 'base64').toString()) as { kdf: { params: unknown }; cipher: { name: string } };
    expect(body.kdf.params).toEqual({ N: 65536, r: 8, p: 1 });
    expect(body.cipher.name).toBe('nacl/secretbox');
    const key = await loadPrivateKey(privatePem, 'cosign.key', pw('correct horse'));
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(publicPem);
    expect(loadPublicKeys(publicPem, 'cosign.pub')).toHaveLength(1);
    await expect(loadPrivateKey(privatePem, 'cosign.key', pw('wrong'))).rejects.toMatchObject({ code: 'KEY_PASSWORD' });
  });

  it('reads keys written by an independent encoder, both labels, empty password allowed', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    for (const label of ['ENCRYPTED COSIGN PRIVATE KEY', 'ENCRYPTED SIGSTORE PRIVATE KEY']) {
      const key = await loadPrivateKey(cosignPem(pkcs8, '', { N: 32768, r: 8, p: 1 }, label), 'k', pw(''));
      expect(key.export({ type: 'pkcs8', format: 'der' })).toEqual(pkcs8);
    }
  });

  it('refuses scrypt parameters cosign never writes, before running scrypt', async () => {
    const pem = cosignPem(Buffer.from('x'), 'p', { N: 1024, r: 8, p: 1 });
    await expect(loadPrivateKey(pem, 'k', pw('p'))).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('scrypt parameters') });
  });

  it('refuses a SEC1 body, as cosign does', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = cosignPem(privateKey.export({ type: 'sec1', format: 'der' }), 'p');
    await expect(loadPrivateKey(pem, 'k', pw('p'))).rejects.toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('not PKCS#8') });
  });
});

describe('password provider', () => {
  const saved = process.env.COSIGN_PASSWORD;
  afterEach(() => {
    if (saved === undefined) delete process.env.COSIGN_PASSWORD;
    else process.env.COSIGN_PASSWORD = saved;
  });

  it('uses COSIGN_PASSWORD, even when empty', async () => {
    process.env.COSIGN_PASSWORD = '';
    await expect(envOrPromptPassword()).resolves.toBe('');
    process.env.COSIGN_PASSWORD = 's3cret';
    await expect(envOrPromptPassword()).resolves.toBe('s3cret');
  });

  it('fails with KEY_PASSWORD when there is no variable and no terminal', async () => {
    delete process.env.COSIGN_PASSWORD;
    if (process.stdin.isTTY) return; // a developer terminal would be prompted; CI has none
    await expect(envOrPromptPassword()).rejects.toMatchObject({ code: 'KEY_PASSWORD' });
  });
});

describe('public keys and certificates', () => {
  it('loads the golden P-384 public key behind certtool text', () => {
    const [key] = loadPublicKeys(readFileSync(new URL('signing-key-pub.pem', GOLDEN), 'utf8'), 'pub');
    expect(key?.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });

  it('rejects RSA public keys and files without a key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(() => loadPublicKeys(rsa, 'rsa.pub')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    expect(() => loadPublicKeys('', 'empty.pub')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });

  it('loads every certificate of a PEM bundle in order', () => {
    const text = ['int-ca-cert.pem', 'ca-cert.pem'].map((f) => readFileSync(new URL(f, GOLDEN), 'utf8')).join('\n');
    expect(loadCertificates(text, 'chain').map((c) => c.subject)).toEqual(['CN=intermediate-ca', 'CN=root-ca']);
    expect(() => loadCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'bad')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
