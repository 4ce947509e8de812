import { execFile, execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { cleanEnv, freePort, startProcess, tempDir, waitFor, type ServerProcess } from './process.js';

/**
 * Debian docker-registry 2.8.2 on 127.0.0.1:<free port> (test-servers.md §1): plain, htpasswd,
 * token (a Node token server issuing RS256 JWTs with x5c) or TLS. Stopped by PID.
 */
export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface RegistryServer {
  host: string;
  port: number;
  /** Storage root; blobs under docker/registry/v2/blobs/sha256/<xx>/<hex>/data. */
  root: string;
  dir: string;
  tls: boolean;
  auth: RegistryAuth;
  caFile?: string;
  caPem?: string;
  user: string;
  password: string;
  /** Token requests seen by the token server (scope, authorization present). */
  tokenRequests: Array<{ scope: string[]; basic: boolean }>;
  url(p: string): string;
  blobPath(digest: string): string;
  /** Request lines of the access log (`"GET /v2/… HTTP/1.1" 200`), when started with `accessLog: true`. */
  requests(): string[];
  /** skopeo transport flags for this registry (TLS verification off for plain HTTP; creds when needed). */
  skopeoFlags(dir: 'src' | 'dest'): string[];
  stop(): Promise<void>;
}

export const TEST_USER = 'alice';
export const TEST_PASSWORD = 's3cret';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe', env: cleanEnv() });
}

async function makeCert(dir: string, name: string, cn: string, san?: string): Promise<{ key: string; cert: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, ...(san ? ['-addext', `subjectAltName=${san}`] : [])], dir);
  return { key, cert };
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** A docker token server: Basic alice:s3cret gets the requested access, anonymous gets none. */
async function startTokenServer(keyPem: string, certPem: string, seen: RegistryServer['tokenRequests']): Promise<{ port: number; close(): Promise<void> }> {
  const key = createPrivateKey(keyPem);
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const authz = req.headers.authorization ?? '';
    const scopes = u.searchParams.getAll('scope');
    seen.push({ scope: scopes, basic: authz.startsWith('Basic ') });
    let ok = false;
    if (authz.startsWith('Basic ')) {
      const [user, pass] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (user !== TEST_USER || pass !== TEST_PASSWORD) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      ok = true;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = ok
      ? scopes.flatMap((s) => {
          const m = /^repository:([^:]+):(.+)$/.exec(s);
          return m ? [{ type: 'repository', name: m[1], actions: m[2]!.split(',') }] : [];
        })
      : [];
    const header = { alg: 'RS256', typ: 'JWT', x5c };
    const claims = { iss: 'test-issuer', sub: ok ? TEST_USER : '', aud: 'test-registry', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise((r) => srv.close(() => r())) };
}

/**
 * `proxy`: run as a Distribution pull-through cache of that upstream URL (mirrors-and-caches.md
 * §6): blobs and manifests by digest are fetched from the upstream once, then served locally;
 * pushes are refused. The upstream must be up when it starts (2.8.2 pings it).
 */
export async function startRegistry(opts: { auth?: RegistryAuth; tls?: boolean; proxy?: string; accessLog?: boolean } = {}): Promise<RegistryServer> {
  const auth = opts.auth ?? 'none';
  const tls = opts.tls ?? false;
  const dir = await tempDir(`registry-${auth}${tls ? '-tls' : ''}${opts.proxy ? '-proxy' : ''}`);
  const root = path.join(dir, 'data');
  await mkdir(root, { recursive: true });
  const tokenRequests: RegistryServer['tokenRequests'] = [];
  let tokenServer: { port: number; close(): Promise<void> } | undefined;
  let authYaml = '';
  if (auth === 'htpasswd') {
    await writeFile(path.join(dir, 'htpasswd'), `${TEST_USER}:${bcrypt.hashSync(TEST_PASSWORD, 8).replace(/^\$2a\$/, '$2b$')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    const { key, cert } = await makeCert(dir, 'token', 'token');
    tokenServer = await startTokenServer(await readFile(key, 'utf8'), await readFile(cert, 'utf8'), tokenRequests);
    authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${tokenServer.port}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: ${cert}\n`;
  }
  let caFile: string | undefined;
  let tlsYaml = '';
  if (tls) {
    const { key, cert } = await makeCert(dir, 'tls', '127.0.0.1', 'IP:127.0.0.1');
    caFile = cert;
    tlsYaml = `  tls:\n    certificate: ${cert}\n    key: ${key}\n`;
  }
  const caPem = caFile ? await readFile(caFile, 'utf8') : undefined;
  const dispatcher = new Agent(caPem ? { connect: { ca: caPem } } : {});

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const cfg = path.join(dir, 'config.yml');
    await writeFile(cfg, [
      'version: 0.1',
      `log: { level: warn, accesslog: { disabled: ${opts.accessLog ? 'false' : 'true'} } }`,
      'storage:',
      `  filesystem: { rootdirectory: ${root} }`,
      '  delete: { enabled: true }',
      '  maintenance: { uploadpurging: { enabled: false } }',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: test-only-secret',
      tlsYaml.trimEnd(),
      'health: { storagedriver: { enabled: false } }',
      authYaml,
      ...(opts.proxy ? ['proxy:', `  remoteurl: ${opts.proxy}`] : []),
    ].filter((l) => l !== '').join('\n') + '\n');
    const proc: ServerProcess = startProcess('docker-registry', ['serve', cfg], { cwd: dir });
    // The access log (Apache combined format) goes to the process's output; keep every request line.
    const requestLines: string[] = [];
    let partial = '';
    const collect = (b: Buffer) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const m = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/.exec(l);
        if (m) requestLines.push(`${m[1]} ${m[2]} ${m[3]}`);
      }
    };
    if (opts.accessLog) {
      proc.child.stdout?.on('data', collect);
      proc.child.stderr?.on('data', collect);
    }
    const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    try {
      await waitFor(async () => {
        const r = await request(`${origin}/v2/`, { dispatcher });
        await r.body.dump();
        return r.statusCode === 200 || r.statusCode === 401;
      }, `docker-registry (${auth}${tls ? ', tls' : ''})`, proc, 20_000);
    } catch (err) {
      await proc.stop();
      if (attempt < 2 && /address already in use/i.test(proc.output())) continue;
      await tokenServer?.close();
      throw err;
    }
    const host = `127.0.0.1:${port}`;
    return {
      host, port, root, dir, tls, auth, user: TEST_USER, password: TEST_PASSWORD, tokenRequests,
      ...(caFile ? { caFile, caPem: caPem! } : {}),
      url: (p) => `${origin}${p}`,
      requests: () => [...requestLines],
      blobPath: (digest) => {
        const hex = digest.replace(/^sha256:/, '');
        return path.join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
      },
      skopeoFlags: (d) => [
        `--${d}-tls-verify=false`,
        ...(auth !== 'none' ? [`--${d}-creds`, `${TEST_USER}:${TEST_PASSWORD}`] : []),
      ],
      stop: async () => {
        await proc.stop();
        await tokenServer?.close();
        await dispatcher.close();
      },
    };
  }
}

/**
 * Runs skopeo (Debian 1.9.3) and returns stdout; throws with stderr on failure. Asynchronous:
 * the token server lives in this process and must keep answering while skopeo runs.
 */
export function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('skopeo', ['--insecure-policy', ...args], { env: cleanEnv(), encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export function sha256hex(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Writes an OCI image layout (image-spec layout.md) holding one manifest tagged `tag`, with the
 * given config and layer blobs, and returns the manifest digest.
 */
export async function writeOciLayout(
  dir: string,
  tag: string,
  manifest: Record<string, unknown>,
  blobs: Array<Uint8Array>,
): Promise<{ digest: string; bytes: Buffer }> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const bytes = Buffer.from(JSON.stringify(manifest));
  for (const b of [...blobs, bytes]) await writeFile(path.join(dir, 'blobs', 'sha256', sha256hex(b)), b);
  const digest = `sha256:${sha256hex(bytes)}`;
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { digest, bytes };
}
