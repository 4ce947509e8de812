import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CA_EXT, TestPki, type Issued } from '../../helpers/pki.js';

const run = promisify(execFile);

/** RFC 3161 §2.3: a TSA certificate has exactly one EKU, timeStamping, marked critical. */
export const TSA_EXT = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping';

export interface TsaServer {
  url: string;
  /** PEM: TSA certificate, intermediate, root (what `--tsa-cert-chain` takes). */
  chainPem: string;
  chainPath: string;
  requests: number;
  close(): Promise<void>;
}

/**
 * A real RFC 3161 TSA: OpenSSL's `ts -reply` behind a loopback HTTP endpoint, with its own PKI
 * (EC root → EC intermediate → EC TSA certificate; sigstore-js verifies ECDSA tokens).
 */
export async function startTsa(pki: TestPki, name = 'tsa', ext = TSA_EXT): Promise<TsaServer> {
  const dir = mkdtempSync(join(tmpdir(), 'modelseal-tsa-'));
  const root = pki.root(`${name}-root`, { type: 'ec', curve: 'P-384' });
  const intermediate = pki.issue(root, `${name}-int`, { type: 'ec', curve: 'P-256' }, CA_EXT);
  const leaf: Issued = pki.issue(intermediate, `${name}-signer`, { type: 'ec', curve: 'P-256' }, ext);
  const chainPem = leaf.certPem + intermediate.certPem + root.certPem;
  const chainPath = join(dir, 'chain.pem');
  writeFileSync(chainPath, chainPem);
  writeFileSync(join(dir, 'serial'), '01\n');
  const cnf = join(dir, 'tsa.cnf');
  writeFileSync(
    cnf,
    [
      '[tsa]',
      'default_tsa = t',
      '[t]',
      `serial = ${join(dir, 'serial')}`,
      'crypto_device = builtin',
      `signer_cert = ${leaf.certPath}`,
      `certs = ${chainPath}`,
      `signer_key = ${leaf.keyPath}`,
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.57264.99.1',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ordering = no',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = ++n;
      state.requests = n;
      const query = join(dir, `q${id}.tsq`);
      const reply = join(dir, `r${id}.tsr`);
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query') {
        res.writeHead(415).end();
        return;
      }
      writeFile(query, Buffer.concat(chunks))
        .then(() => run('openssl', ['ts', '-reply', '-config', cnf, '-queryfile', query, '-out', reply]))
        .then(() => readFile(reply))
        .then((body) => res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(body))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const state: TsaServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsr`,
    chainPem,
    chainPath,
    requests: 0,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        }),
      ),
  };
  return state;
}
