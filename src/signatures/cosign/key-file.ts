import { createPrivateKey, generateKeyPairSync, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { ModelsealError } from '../../errors.js';
import { isPlainObject } from '../../formats/strict-json.js';
import { parseJsonBytes } from '../core/json-bytes.js';
import { toPem } from '../core/pem.js';

const scryptAsync = promisify(scrypt) as (pw: Buffer, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const COSIGN_KEY_LABELS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'] as const;

/**
 * The only scrypt costs cosign writes (legacy, default, OWASP); anything else in a key file is
 * refused so a hostile file cannot make us burn memory or CPU.
 */
const SCRYPT_SETS = [32768, 65536, 131072].map((N) => ({ N, r: 8, p: 1 }));
const DEFAULT_N = 65536;
/** N=131072, r=8 needs 128 MiB; Node's default cap (32 MiB) rejects even the legacy set. */
const SCRYPT_MAXMEM = 256 * 2 ** 20;
const SALT_BYTES = 32;

function keyError(message: string): never {
  throw new ModelsealError('KEY_INVALID', `cosign private key: ${message}`);
}

function b64(v: unknown, what: string, length?: number): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) keyError(`${what} is not base64`);
  const bytes = Buffer.from(v, 'base64');
  if (length !== undefined && bytes.length !== length) keyError(`${what} is ${bytes.length} bytes, expected ${length}`);
  return bytes;
}

/** Loaded only when a cosign key file is read or written, not by every verify. */
async function loadNacl(): Promise<typeof import('tweetnacl')> {
  return (await import('tweetnacl')).default;
}

/** Decrypt the JSON body of an `ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY` block (go-securesystemslib `encrypted`). */
export async function decryptCosignKey(body: Buffer, password: string): Promise<KeyObject> {
  const { value: doc } = parseJsonBytes(body, 'KEY_INVALID', 'cosign private key');
  const kdf = isPlainObject(doc) ? doc.kdf : undefined;
  const cipher = isPlainObject(doc) ? doc.cipher : undefined;
  if (!isPlainObject(doc) || !isPlainObject(kdf) || !isPlainObject(cipher)) keyError('missing kdf or cipher');
  if (kdf.name !== 'scrypt') keyError(`unsupported kdf ${JSON.stringify(kdf.name)}`);
  const params = kdf.params;
  const set = isPlainObject(params) ? SCRYPT_SETS.find((s) => s.N === params.N && s.r === params.r && s.p === params.p) : undefined;
  if (!set) keyError(`scrypt parameters ${JSON.stringify(params)} are not one of cosign's (N=32768|65536|131072, r=8, p=1)`);
  if (cipher.name !== 'nacl/secretbox') keyError(`unsupported cipher ${JSON.stringify(cipher.name)}`);
  const nacl = await loadNacl();
  const salt = b64(kdf.salt, 'kdf.salt', SALT_BYTES);
  const nonce = b64(cipher.nonce, 'cipher.nonce', nacl.secretbox.nonceLength);
  const ciphertext = b64(doc.ciphertext, 'ciphertext');

  const key = await scryptAsync(Buffer.from(password, 'utf8'), salt, nacl.secretbox.keyLength, { ...set, maxmem: SCRYPT_MAXMEM });
  const plain = nacl.secretbox.open(ciphertext, nonce, key);
  if (!plain) throw new ModelsealError('KEY_PASSWORD', 'cannot decrypt the cosign private key: wrong password (or a damaged key file)');
  try {
    // cosign writes PKCS#8; older SEC1 bodies (cosign's `pemcosigneckey` vector) are refused like cosign does.
    return createPrivateKey({ key: Buffer.from(plain), format: 'der', type: 'pkcs8' });
  } catch {
    return keyError('the decrypted key is not PKCS#8');
  }
}

async function encryptCosignKey(pkcs8: Buffer, password: string): Promise<Buffer> {
  const nacl = await loadNacl();
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const params = { N: DEFAULT_N, r: 8, p: 1 };
  const key = await scryptAsync(Buffer.from(password, 'utf8'), salt, nacl.secretbox.keyLength, { ...params, maxmem: SCRYPT_MAXMEM });
  const ciphertext = nacl.secretbox(pkcs8, nonce, key);
  const doc = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: Buffer.from(nonce).toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  };
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** `cosign generate-key-pair`: ECDSA P-256, the private key encrypted with `password` (N=65536). */
export async function generateKeyPair(password: string): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  return {
    privatePem: toPem(COSIGN_KEY_LABELS[0], await encryptCosignKey(pkcs8, password)),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}
