import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian softhsm2's module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * A fresh SoftHSM2 token store in a temp dir (SOFTHSM2_CONF points there, for this process and
 * the pkcs11-tool it starts): nothing touches the machine's own tokens.
 */
export class SoftHsm {
  readonly dir = mkdtempSync(join(tmpdir(), 'modelseal-softhsm-'));
  readonly conf = join(this.dir, 'softhsm2.conf');
  private readonly previous = process.env.SOFTHSM2_CONF;

  constructor() {
    if (!existsSync(SOFTHSM_MODULE)) throw new Error(`${SOFTHSM_MODULE} missing: run scripts/install-system-deps.sh (softhsm2, opensc)`);
    mkdirSync(join(this.dir, 'tokens'));
    writeFileSync(this.conf, `directories.tokendir = ${join(this.dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = this.conf;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, SOFTHSM2_CONF: this.conf };
  }

  initToken(label: string, pin: string): void {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '87654321', '--pin', pin], { env: this.env, stdio: 'pipe' });
  }

  /** An EC key pair generated inside the token (the private half never exists outside it). */
  generateEcKey(token: string, pin: string, curve: 'secp256r1' | 'secp384r1' | 'secp521r1', label: string, id: string): void {
    execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', token, '--login', '--pin', 'env:TEST_PIN', '--keypairgen', '--key-type', `EC:${curve}`, '--label', label, '--id', id], {
      env: { ...this.env, TEST_PIN: pin },
      stdio: 'pipe',
    });
  }

  /** Import a PKCS#8 PEM private key made in the test (for a certificate issued to it). */
  importKey(token: string, pin: string, pemPath: string, label: string, id: string): void {
    execFileSync('softhsm2-util', ['--import', pemPath, '--token', token, '--label', label, '--id', id, '--pin', pin], { env: this.env, stdio: 'pipe' });
  }

  dispose(): void {
    if (this.previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = this.previous;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
