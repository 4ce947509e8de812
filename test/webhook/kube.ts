import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { cleanEnv, freePort, startProcess, tempDir, type ServerProcess } from '../harness/process.js';
import { REPO } from '../helpers/cli.js';

/**
 * Real objects and a real server for admission tests: manifests from `kubectl … --dry-run=client`
 * (no cluster: KUBECONFIG=/dev/null), wrapped in AdmissionReview v1 as the apiserver sends them,
 * POSTed over HTTPS to a `modelseal webhook serve` process made with `modelseal webhook certs`.
 */
const run = promisify(execFile);
const KUBE_ENV = cleanEnv({ KUBECONFIG: '/dev/null' });

async function kubectl(args: string[]): Promise<Record<string, any>> {
  const { stdout } = await run('kubectl', args, { env: KUBE_ENV, maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Record<string, any>;
}

/** A Pod manifest through `kubectl annotate --local` (kubectl's own decoding and defaults for the file). */
export async function kubectlPod(name: string, containers: Array<{ name: string; image: string }>, annotations: Record<string, string>, extraSpec: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const dir = await tempDir('kube-pod');
  const file = path.join(dir, 'pod.json');
  await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers, ...extraSpec } }));
  const args = ['annotate', '--local', '-f', file, '-o', 'json', ...Object.entries(annotations).map(([k, v]) => `${k}=${v}`)];
  return Object.keys(annotations).length ? kubectl(args) : JSON.parse(await readFile(file, 'utf8'));
}

/** `kubectl create deployment`, its Pod template annotated with `kubectl patch --local`. */
export async function kubectlDeployment(name: string, image: string, annotations: Record<string, string>): Promise<Record<string, any>> {
  const dir = await tempDir('kube-dep');
  const file = path.join(dir, 'deployment.json');
  const dep = await kubectl(['create', 'deployment', name, `--image=${image}`, '--dry-run=client', '-o', 'json']);
  await writeFile(file, JSON.stringify(dep));
  return kubectl(['patch', '--local', '-f', file, '--type', 'merge', '-p', JSON.stringify({ spec: { template: { metadata: { annotations } } } }), '-o', 'json']);
}

/**
 * The Pod a Deployment's ReplicaSet controller creates, as a mutating webhook sees it
 * (reference §2): generateName `<rs>-`, no name, the namespace, ownerReferences, and the
 * ServiceAccount plugin's projected token volume and mounts.
 */
export function podFromDeployment(dep: Record<string, any>, namespace: string): Record<string, any> {
  const tmpl = structuredClone(dep.spec.template) as Record<string, any>;
  const rs = `${dep.metadata.name}-5d9c7b8f6`;
  const metadata = { ...tmpl.metadata, generateName: `${rs}-`, namespace, labels: { ...tmpl.metadata.labels, 'pod-template-hash': '5d9c7b8f6' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: randomUUID(), controller: true }] };
  delete metadata.creationTimestamp;
  const token = 'kube-api-access-x7k2p';
  const spec = structuredClone(tmpl.spec) as Record<string, any>;
  spec.volumes = [...(spec.volumes ?? []), { name: token, projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }], defaultMode: 420 } }];
  for (const c of spec.containers) c.volumeMounts = [...(c.volumeMounts ?? []), { name: token, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }];
  spec.restartPolicy ??= 'Always';
  spec.serviceAccountName ??= 'default';
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

export function admissionReview(object: Record<string, any>, namespace: string, o: { kind?: string; operation?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: o.kind ?? 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: o.kind ?? 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: object.metadata?.name ?? '',
      namespace,
      operation: o.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:authenticated'] },
      object: { ...object, metadata: { ...object.metadata, namespace } },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export interface RunningWebhook {
  port: number;
  caFile: string;
  proc: ServerProcess;
  stop(): Promise<void>;
}

/** The DNS name the apiserver dials for the Service (the certificate must match it, not 127.0.0.1). */
export const SERVICE_HOST = 'modelseal-webhook.modelseal.svc';

/** `modelseal webhook certs` into a fresh dir. */
export async function makeCerts(): Promise<{ dir: string; caFile: string }> {
  const dir = path.join(await tempDir('webhook-certs'), 'certs');
  await run(process.execPath, [path.join(REPO, 'bin/modelseal'), 'webhook', 'certs', '--out', dir], { env: cleanEnv() });
  return { dir, caFile: path.join(dir, 'ca.crt') };
}

export async function startWebhook(args: string[], certs?: { dir: string; caFile: string }): Promise<RunningWebhook> {
  const c = certs ?? (await makeCerts());
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = startProcess(process.execPath, [path.join(REPO, 'bin/modelseal'), 'webhook', 'serve', '--tls-cert', path.join(c.dir, 'tls.crt'), '--tls-key', path.join(c.dir, 'tls.key'), '--listen', `127.0.0.1:${port}`, ...args], {
      env: cleanEnv({ MODELSEAL_LOG_LEVEL: 'info' }),
    });
    const hook: RunningWebhook = { port, caFile: c.caFile, proc, stop: () => proc.stop() };
    for (let i = 0; i < 200; i++) {
      if (proc.child.exitCode !== null) break;
      const ok = await get(hook, '/healthz').then((r) => r.status === 200, () => false);
      if (ok) return hook;
      await new Promise((r) => setTimeout(r, 50));
    }
    await proc.stop();
    if (attempt >= 2) throw new Error(`webhook did not start:\n${proc.output()}`);
  }
}

export interface HttpReply {
  status: number;
  body: string;
  json(): any;
}

/** HTTPS to 127.0.0.1 with the CA from `certs`, checking the certificate for the Service's DNS name. */
export async function request(hook: RunningWebhook, method: string, pathname: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<HttpReply> {
  const ca = await readFile(hook.caFile);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: hook.port, method, path: pathname, ca, servername: SERVICE_HOST, headers, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(SERVICE_HOST, cert) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const get = (hook: RunningWebhook, p: string) => request(hook, 'GET', p);

export async function review(hook: RunningWebhook, endpoint: '/mutate' | '/validate', rev: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await request(hook, 'POST', endpoint, JSON.stringify(rev), { 'content-type': 'application/json' });
  if (r.status !== 200) throw new Error(`${endpoint} answered ${r.status}: ${r.body}`);
  return r.json().response as Record<string, any>;
}

/** The response's JSONPatch, decoded. */
export function patchOf(response: Record<string, any>): any[] {
  return JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8')) as any[];
}
