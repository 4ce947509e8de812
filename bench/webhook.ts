import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { makeWebhookCerts, serviceDnsNames } from '../src/webhook/certs.js';
import { freePort, startProcess, type ServerProcess } from '../test/harness/process.js';
import { startRegistry } from '../test/harness/registry.js';
import { ms, type BenchContext } from './local.js';
import { MiB } from './measure.js';
import { ensureMultiFileModel } from './model.js';

/**
 * Admission latency of `modelseal webhook serve` over HTTPS (keep-alive, as the apiserver
 * calls it) against a loopback registry: uncached (every admission resolves the tag, fetches
 * the manifest and the signature, verifies the policy) and cached (a verdict on the digest is
 * reused; the tag is re-resolved only after --tag-ttl). The budget is the webhook
 * configuration's timeoutSeconds (10 s) and the webhook's own --check-timeout (8 s).
 */
const N = 60;

function pod(reference: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-0000-0000-000000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'ml',
      operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-5d9c7b8f6-', namespace: 'ml', annotations: { 'modelseal.dev/model': reference } }, spec: { containers: [{ name: 'server', image: 'server:1' }] } },
    },
  });
}

async function admissions(port: number, ca: string, body: string, n: number): Promise<number[]> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, servername: 'modelseal-webhook.modelseal.svc' });
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const text = await new Promise<string>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let s = '';
          res.on('data', (c: Buffer) => (s += c.toString()));
          res.on('end', () => resolve(s));
        });
        req.on('error', reject);
        req.end(body);
      });
      out.push(performance.now() - t0);
      if (!(JSON.parse(text) as { response: { allowed: boolean } }).response.allowed) throw new Error(`bench admission was denied: ${text}`);
    }
  } finally {
    agent.destroy();
  }
  return out.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function serve(ctx: BenchContext, certDir: string, trustDir: string, extra: string[]): Promise<{ port: number; proc: ServerProcess }> {
  const port = await freePort();
  const proc = startProcess(ctx.cli[0]!, [...ctx.cli.slice(1), 'webhook', 'serve', '--tls-cert', path.join(certDir, 'tls.crt'), '--tls-key', path.join(certDir, 'tls.key'), '--listen', `127.0.0.1:${port}`, '--init-image', 'modelseal-init:bench', '--trust-dir', trustDir, '--plain-http', ...extra], { env: ctx.env });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      https.get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (r) => resolve(r.statusCode === 200)).on('error', () => resolve(false));
    });
    if (up) return { port, proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`webhook did not start: ${proc.output()}`);
}

export async function benchWebhook(ctx: BenchContext): Promise<void> {
  // Admission reads the manifest and the bundle only: the cost follows the file count, not the bytes.
  const modelDir = path.join(ctx.root, 'webhook-model');
  await ensureMultiFileModel(modelDir, 8 * MiB, 8);
  const registry = await startRegistry();
  const procs: ServerProcess[] = [];
  try {
    const ref = `oci://${registry.host}/bench/admission:v1`;
    await ms(ctx, ['publish', modelDir, ref, '--sign', 'key', '--private-key', `${ctx.keyPrefix}.key`, '--plain-http']);
    const trustDir = path.join(ctx.root, 'webhook-trust');
    await mkdir(trustDir, { recursive: true });
    const { readFile } = await import('node:fs/promises');
    await writeFile(path.join(trustDir, 'release.pub'), await readFile(`${ctx.keyPrefix}.pub`));
    await writeFile(path.join(trustDir, 'default.yaml'), `apiVersion: modelseal/v1\nauthorities:\n  release:\n    key: { publicKey: release.pub }\nmodels:\n  - match: "oci://${registry.host}/bench/**"\n    authorities: [release]\n`);
    const certDir = path.join(ctx.root, 'webhook-certs');
    await mkdir(certDir, { recursive: true });
    const certs = makeWebhookCerts({ dnsNames: serviceDnsNames('modelseal-webhook', 'modelseal') });
    await writeFile(path.join(certDir, 'tls.crt'), certs.certPem);
    await writeFile(path.join(certDir, 'tls.key'), certs.keyPem);

    const uncached = await serve(ctx, certDir, trustDir, ['--cache-ttl', '0', '--tag-ttl', '0']);
    procs.push(uncached.proc);
    const cached = await serve(ctx, certDir, trustDir, []);
    procs.push(cached.proc);
    const body = pod(ref);
    await admissions(uncached.port, certs.caCertPem, body, 5); // warm-up: module loading, TLS session
    const u = await admissions(uncached.port, certs.caCertPem, body, N);
    await admissions(cached.port, certs.caCertPem, body, 5);
    const c = await admissions(cached.port, certs.caCertPem, body, N);
    const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
    ctx.rows.push(['Admission decision, uncached (resolve+manifest+signature+policy)', `${N} Pods`, fmt(u), '', 'budget: timeoutSeconds 10 s']);
    ctx.rows.push(['Admission decision, cached by digest (tag TTL 30 s)', `${N} Pods`, fmt(c), '', `${(pct(u, 50) / pct(c, 50)).toFixed(1)}× faster at p50`]);
  } finally {
    for (const p of procs) await p.stop();
    await registry.stop();
  }
}
