import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { ecCurveOf } from './ecdsa-curves.js';
import { COSIGN_KEY_LABELS, decryptCosignKey } from '../cosign/key-file.js';
import { envOrPromptPassword, type PasswordProvider } from './password.js';
import { pemBlocks } from './pem.js';

const PRIVATE_LABELS = new Set<string>([
  'PRIVATE KEY',
  'EC PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  ...COSIGN_KEY_LABELS,
  'RSA PRIVATE KEY',
  'OPENSSH PRIVATE KEY',
]);

/** Only NIST EC keys sign OMS bundles (spec §1.4); say so instead of failing later. */
function requireEc(key: KeyObject, what: string): KeyObject {
  try {
    ecCurveOf(key);
  } catch (err) {
    throw new ModelsealError('KEY_INVALID', `${what}: ${(err as Error).message}`);
  }
  return key;
}

/**
 * Load an EC signing key from PEM text: PKCS#8, SEC1, encrypted PKCS#8, or a cosign encrypted
 * key. `password` is asked only for encrypted keys.
 */
export async function loadPrivateKey(text: string, what: string, password: PasswordProvider = envOrPromptPassword): Promise<KeyObject> {
  const blocks = pemBlocks(text, what, 'KEY_INVALID').filter((b) => PRIVATE_LABELS.has(b.label));
  if (blocks.length !== 1) throw new ModelsealError('KEY_INVALID', `${what}: expected one PEM private key, found ${blocks.length}`);
  const { label, der } = blocks[0]!;
  let key: KeyObject;
  try {
    if (label === 'PRIVATE KEY') key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    else if (label === 'EC PRIVATE KEY') key = createPrivateKey({ key: der, format: 'der', type: 'sec1' });
    else if (label === 'ENCRYPTED PRIVATE KEY') key = await decryptPkcs8(der, await password(), what);
    else if ((COSIGN_KEY_LABELS as readonly string[]).includes(label)) key = await decryptCosignKey(der, await password());
    else throw new ModelsealError('KEY_INVALID', `${what}: ${label} keys cannot sign; use an EC P-256, P-384 or P-521 key`);
  } catch (err) {
    if (err instanceof ModelsealError) throw err;
    throw new ModelsealError('KEY_INVALID', `${what}: cannot parse the ${label} block`, { cause: err });
  }
  return requireEc(key, what);
}

async function decryptPkcs8(der: Buffer, passphrase: string, what: string): Promise<KeyObject> {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8', passphrase });
  } catch (err) {
    throw new ModelsealError('KEY_PASSWORD', `${what}: cannot decrypt the private key: wrong password?`, { cause: err });
  }
}

/** All `PUBLIC KEY` (SPKI) blocks in a text, each an EC P-256/P-384/P-521 key. */
export function loadPublicKeys(text: string, what: string): KeyObject[] {
  const blocks = pemBlocks(text, what, 'KEY_INVALID').filter((b) => b.label === 'PUBLIC KEY');
  if (blocks.length === 0) throw new ModelsealError('KEY_INVALID', `${what}: no PEM PUBLIC KEY block`);
  return blocks.map(({ der }) => {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    } catch (err) {
      throw new ModelsealError('KEY_INVALID', `${what}: a PUBLIC KEY block is not a valid SPKI key`, { cause: err });
    }
    return requireEc(key, what);
  });
}

/** All `CERTIFICATE` blocks in a PEM bundle, in file order. */
export function loadCertificates(text: string, what: string): X509Certificate[] {
  const blocks = pemBlocks(text, what, 'CONFIG_INVALID').filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new ModelsealError('CONFIG_INVALID', `${what}: no PEM CERTIFICATE block`);
  return blocks.map(({ der }, i) => {
    try {
      return new X509Certificate(der);
    } catch (err) {
      throw new ModelsealError('CONFIG_INVALID', `${what}: certificate #${i + 1} is not valid X.509`, { cause: err });
    }
  });
}
