import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestPki, type Issued, type KeySpec } from './pki.js';

export const TSA_EXT = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash';

/**
 * A real RFC 3161 timestamp authority: `openssl ts -reply` signing with a TSA certificate from
 * a test PKI (root → TSA leaf). `stamp(message)` returns a DER TimeStampToken over SHA-256(message).
 */
export class TestTsa {
  readonly root: Issued;
  readonly tsa: Issued;
  private n = 0;

  constructor(readonly pki: TestPki, o: { key?: KeySpec; ext?: string; essV2?: boolean } = {}) {
    this.root = pki.root(`tsa-root-${Math.random().toString(36).slice(2, 8)}`);
    this.tsa = pki.issue(this.root, 'Test TSA', o.key ?? { type: 'rsa' }, o.ext ?? TSA_EXT);
    writeFileSync(join(pki.dir, 'tsaserial'), '01\n');
    writeFileSync(join(pki.dir, `tsa-${this.tsa.name}.cnf`), [
      '[tsa]', 'default_tsa = t', '[t]', `dir = ${pki.dir}`, `serial = ${join(pki.dir, 'tsaserial')}`, 'crypto_device = builtin',
      'signer_digest = sha256', 'default_policy = 1.2.3.4.1', 'digests = sha256, sha384, sha512', 'accuracy = secs:1',
      'ordering = yes', 'tsa_name = yes', 'ess_cert_id_chain = no', ...(o.essV2 === false ? [] : ['ess_cert_id_alg = sha256']), '',
    ].join('\n'));
    this.cnf = join(pki.dir, `tsa-${this.tsa.name}.cnf`);
  }

  private readonly cnf: string;

  stamp(message: Buffer): Buffer {
    const id = `ts${this.n++}-${Math.random().toString(36).slice(2, 8)}`;
    const q = join(this.pki.dir, `${id}.tsq`);
    const out = join(this.pki.dir, `${id}.der`);
    const digest = createHash('sha256').update(message).digest('hex');
    execFileSync('openssl', ['ts', '-query', '-digest', digest, '-sha256', '-cert', '-no_nonce', '-out', q], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('openssl', ['ts', '-reply', '-config', this.cnf, '-queryfile', q, '-signer', this.tsa.certPath, '-inkey', this.tsa.keyPath,
      '-chain', this.root.certPath, '-token_out', '-out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(out);
  }
}
