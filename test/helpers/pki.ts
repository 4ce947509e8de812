import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate made by the openssl CLI, with the private key that belongs to it. */
export interface Issued {
  name: string;
  certPem: string;
  key: KeyObject;
  keyPath: string;
  certPath: string;
}

export type KeySpec = { type: 'rsa'; bits?: number } | { type: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' };

export const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid';
export const ROOT_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash';
export const LEAF_EXT = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning';

/** Throwaway PKI in a temp dir; `openssl ca` so validity dates can be set in the past. */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'modelseal-pki-'));
  private serial = 1;

  private run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private newKey(name: string, spec: KeySpec): { key: KeyObject; keyPath: string } {
    const { privateKey } =
      spec.type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: spec.bits ?? 2048 }) : generateKeyPairSync('ec', { namedCurve: spec.curve });
    const keyPath = join(this.dir, `${name}.key`);
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    return { key: privateKey, keyPath };
  }

  root(name: string, spec: KeySpec = { type: 'rsa' }, ext = ROOT_EXT): Issued {
    const { key, keyPath } = this.newKey(name, spec);
    const certPath = join(this.dir, `${name}.pem`);
    const cnf = join(this.dir, `${name}.cnf`);
    writeFileSync(cnf, `[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=${name}\n[v3]\n${ext}\n`);
    this.run(['req', '-x509', '-new', '-key', keyPath, '-out', certPath, '-days', '3650', '-sha256', '-config', cnf]);
    return { name, certPem: readFileSync(certPath, 'utf8'), key, keyPath, certPath };
  }

  /**
   * Issue `subject` from `issuer` with the given extensions (openssl extfile syntax).
   * Dates are openssl `YYYYMMDDHHMMSSZ`; by default valid from yesterday for ten years.
   */
  issue(issuer: Issued, subject: string, spec: KeySpec, ext: string, dates: { start?: string; end?: string } = {}): Issued {
    const name = `${subject}-${this.serial}`;
    const { key, keyPath } = this.newKey(name, spec);
    const csr = join(this.dir, `${name}.csr`);
    this.run(['req', '-new', '-key', keyPath, '-out', csr, '-subj', `/CN=${subject}`, '-config', '/dev/null']);
    writeFileSync(join(this.dir, `${name}.ext`), ext);
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'serial'), `${(this.serial++).toString(16).padStart(4, '0')}\n`);
    writeFileSync(
      join(this.dir, 'ca.cnf'),
      '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n',
    );
    const certPath = join(this.dir, `${name}.pem`);
    const fmt = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
    const start = dates.start ?? fmt(new Date(Date.now() - 86_400_000));
    const end = dates.end ?? fmt(new Date(Date.now() + 3650 * 86_400_000));
    this.run(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', issuer.certPath, '-keyfile', issuer.keyPath, '-in', csr, '-out', certPath,
      '-startdate', start, '-enddate', end, '-extfile', `${name}.ext`]);
    return { name: subject, certPem: readFileSync(certPath, 'utf8'), key, keyPath, certPath };
  }

  /** root → intermediate CA → code-signing leaf: the chain most certificate tests sign with. */
  chain(names: [string, string, string], specs: [KeySpec, KeySpec, KeySpec]): { root: Issued; intermediate: Issued; leaf: Issued } {
    const root = this.root(names[0], specs[0]);
    const intermediate = this.issue(root, names[1], specs[1], CA_EXT);
    const leaf = this.issue(intermediate, names[2], specs[2], LEAF_EXT);
    return { root, intermediate, leaf };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
