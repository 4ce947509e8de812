import { readFile } from 'node:fs/promises';
import path from 'node:path';
import jsonpatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/process.js';
import { admissionReview, kubectlDeployment, kubectlPod, makeCerts, patchOf, podFromDeployment, request, review, startWebhook, type RunningWebhook } from './kube.js';
import { startWebhookWorld, type WebhookWorld } from './world.js';

/**
 * Admission over real HTTPS: objects from kubectl, the webhook as a `modelseal webhook serve`
 * process with certificates from `modelseal webhook certs`, models on a loopback registry, and
 * every returned JSONPatch applied by an RFC 6902 library (fast-json-patch, validating).
 */
const NS = 'ml';
const IMAGE = 'registry.example/modelseal-init@sha256:' + 'a'.repeat(64);
let world: WebhookWorld;
let certs: { dir: string; caFile: string };
let hook: RunningWebhook;
let audit: RunningWebhook;
let watching: RunningWebhook;

const baseArgs = () => ['--init-image', IMAGE, '--trust-dir', world.trustDir, '--plain-http', '--pod-plain-http'];

beforeAll(async () => {
  world = await startWebhookWorld();
  certs = await makeCerts();
  [hook, audit, watching] = await Promise.all([
    startWebhook(baseArgs(), certs),
    startWebhook([...baseArgs(), '--mode', 'audit'], certs),
    startWebhook([...baseArgs(), '--inject-watch', '--watch-rate', '16MiB', '--watch-interval', '120'], certs),
  ]);
});
afterAll(async () => {
  await hook?.stop();
  await audit?.stop();
  await watching?.stop();
  await world?.stop();
});

const server = [{ name: 'server', image: 'registry.example/server:1' }];
const pod = (annotations: Record<string, string>, extraSpec: Record<string, unknown> = {}) => kubectlPod('llm', server, annotations, extraSpec);

function applied(object: Record<string, any>, response: Record<string, any>): Record<string, any> {
  // validateOperation=true: a patch whose parent path is missing throws, as the apiserver would.
  return jsonpatch.applyPatch(structuredClone(object), patchOf(response), true, false).newDocument;
}

describe('mutating admission of a signed model', () => {
  it('a Pod naming a tag gets the init container pinned to the digest, hardened, with read-only mounts', async () => {
    const object = await pod({ 'modelseal.dev/model': world.refs.good });
    const rev = admissionReview(object, NS);
    const res = await review(hook, '/mutate', rev);
    expect(res.uid).toBe((rev.request as { uid: string }).uid);
    expect(res.allowed, JSON.stringify(res.status)).toBe(true);
    expect(res.patchType).toBe('JSONPatch');
    const digest = await world.digest(world.refs.good);
    const out = applied((rev.request as { object: Record<string, any> }).object, res);

    const init = out.spec.initContainers[0];
    expect(init.name).toBe('modelseal-init');
    expect(init.image).toBe(IMAGE);
    const env = Object.fromEntries(init.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.MODELSEAL_SOURCE).toBe(`${world.refs.good}@${digest}`);
    expect(env.MODELSEAL_INTO).toBe('/models/model');
    expect(env.MODELSEAL_POLICY).toBe('/etc/modelseal/trust/default.yaml');
    expect(env.POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(init.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'Localhost', localhostProfile: 'modelseal-init.json' },
    });
    expect(init.volumeMounts).toContainEqual({ name: 'modelseal-model', mountPath: '/models' });
    expect(out.spec.volumes).toContainEqual({ name: 'modelseal-model', emptyDir: {} });
    expect(out.spec.containers[0].volumeMounts).toEqual([{ name: 'modelseal-model', mountPath: '/models', readOnly: true }]);
    expect(out.spec.securityContext).toEqual({ fsGroup: 65532 });
    expect(out.metadata.annotations['modelseal.dev/pinned']).toBe(`${world.refs.good}@${digest}`);
    expect(out.metadata.annotations['modelseal.dev/signer']).toMatch(/^key:[0-9a-f]{64}$/);
    expect(out.metadata.annotations['container.seccomp.security.alpha.kubernetes.io/modelseal-init']).toBe('localhost/modelseal-init.json');
    expect(res.auditAnnotations).toMatchObject({ model: `${world.refs.good}@${digest}` });
    // The checks that need the bytes are named as deferred to pod start.
    expect(res.warnings.join('\n')).toContain('checked at pod start: content scan');
  });

  it("a Deployment's Pod (ReplicaSet controller: generateName, SA token volume) is patched the same way", async () => {
    const dep = await kubectlDeployment('web', 'registry.example/server:1', { 'modelseal.dev/model': world.refs.good, 'modelseal.dev/into': '/srv/models/tiny' });
    const object = podFromDeployment(dep, NS);
    const res = await review(hook, '/mutate', admissionReview(object, NS));
    expect(res.allowed, JSON.stringify(res.status)).toBe(true);
    const out = applied({ ...object, metadata: { ...object.metadata, namespace: NS } }, res);
    const c = out.spec.containers[0];
    expect(c.volumeMounts).toContainEqual({ name: 'modelseal-model', mountPath: '/srv/models', readOnly: true });
    expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'kube-api-access-x7k2p', readOnly: true }));
    const env = Object.fromEntries(out.spec.initContainers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.MODELSEAL_INTO).toBe('/srv/models/tiny');
    expect(env.MODELSEAL_SOURCE).toMatch(/@sha256:[0-9a-f]{64}$/);
  });

  it('the validating endpoint accepts the patched Pod and refuses the unpatched or loosened one', async () => {
    const object = await pod({ 'modelseal.dev/model': world.refs.good });
    const rev = admissionReview(object, NS);
    const patched = applied((rev.request as { object: Record<string, any> }).object, await review(hook, '/mutate', rev));
    const ok = await review(hook, '/validate', admissionReview(patched, NS));
    expect(ok.allowed, JSON.stringify(ok.status)).toBe(true);
    // Re-invoked (reinvocationPolicy IfNeeded): verified again, nothing injected twice.
    const again = await review(hook, '/mutate', admissionReview(patched, NS));
    expect(again.allowed, JSON.stringify(again.status)).toBe(true);
    expect(again.patch).toBeUndefined();

    const bare = await review(hook, '/validate', admissionReview(object, NS));
    expect(bare.allowed).toBe(false);
    expect(bare.status.message).toMatch(/no modelseal-init init container/);

    const writable = structuredClone(patched);
    writable.spec.containers[0].volumeMounts[0].readOnly = false;
    const w = await review(hook, '/validate', admissionReview(writable, NS));
    expect(w.allowed).toBe(false);
    expect(w.status.message).toContain('mounts the model volume modelseal-model writable');

    // A look-alike: our image and pinned source, but its own command (or an extra setting).
    for (const change of [(c: any) => (c.command = ['/nodejs/bin/node', '-e', 'require("fs").writeFileSync("/models/model/w", "x")']), (c: any) => c.env.push({ name: 'MODELSEAL_IGNORE_UNSIGNED_FILES', value: 'true' })]) {
      const alike = structuredClone(patched);
      change(alike.spec.initContainers[0]);
      for (const endpoint of ['/validate', '/mutate'] as const) {
        const r = await review(hook, endpoint, admissionReview(alike, NS));
        expect(r.allowed).toBe(false);
        expect(r.status.message).toContain('differs from the container the webhook injects');
      }
    }

    const unpinned = structuredClone(patched);
    unpinned.spec.initContainers[0].env[0].value = world.refs.good;
    const u = await review(hook, '/validate', admissionReview(unpinned, NS));
    expect(u.allowed).toBe(false);
    expect(u.status.message).toContain('not pinned');
  });
});

describe('--inject-watch', () => {
  it('adds the watch native sidecar after modelseal-init, its readiness on /readyz, the model read-only', async () => {
    const rev = admissionReview(await pod({ 'modelseal.dev/model': world.refs.good, 'modelseal.dev/policy': 'default' }), NS);
    const res = await review(watching, '/mutate', rev);
    expect(res.allowed, JSON.stringify(res.status)).toBe(true);
    const out = applied((rev.request as { object: Record<string, any> }).object, res);
    expect(out.spec.initContainers.map((c: any) => c.name)).toEqual(['modelseal-init', 'modelseal-watch']);
    const w = out.spec.initContainers[1];
    expect(w).toMatchObject({
      image: IMAGE,
      restartPolicy: 'Always',
      command: ['/nodejs/bin/node', '/app/bin/modelseal'],
      args: ['watch', '--path=/models/model', '--policy=/etc/modelseal/trust/default.yaml', '--rate=16MiB', '--interval=120', '--listen=0.0.0.0:8081'],
      readinessProbe: { httpGet: { path: '/readyz', port: 8081 } },
    });
    expect(w.volumeMounts).toContainEqual({ name: 'modelseal-model', mountPath: '/models', readOnly: true });
    expect(w.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, seccompProfile: { type: 'RuntimeDefault' } });
    // The args are the real CLI's: the same flags parse in `modelseal watch --help`.
    const { runCli } = await import('../helpers/cli.js');
    const help = (await runCli(['watch', '--help'])).stdout;
    for (const a of w.args.slice(1)) expect(help).toContain(a.split('=')[0]);
  });
});

describe('denied at admission, with a one-line reason', () => {
  const cases = [
    ['unsigned', 'SIGNATURE_MISSING', /no OMS model signature/],
    ['wrongSigner', 'SIGNATURE_INVALID|UNTRUSTED_SIGNER', /signature|authority/],
    ['tamperedManifest', 'DIGEST_MISMATCH', /weights\.dat: the source's digest sha256:[0-9a-f]{64} is not the signed/],
    ['noMatch', 'POLICY_VIOLATION', /no rule in policy .* matches/],
  ] as const;
  for (const [name, code, why] of cases) {
    it(`${name}: allowed false, 403, ${code}`, async () => {
      const res = await review(hook, '/mutate', admissionReview(await pod({ 'modelseal.dev/model': world.refs[name] }), NS));
      expect(res.allowed).toBe(false);
      expect(res.status.code).toBe(403);
      expect(res.status.message).toMatch(new RegExp(`^modelseal: ${world.refs[name].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: (${code}): `));
      expect(res.status.message).toMatch(why);
      expect(res.status.message).not.toContain('\n');
      expect(res.patch).toBeUndefined();
    });
  }

  it('audit mode allows the unsigned Pod with the reason as a warning, and still injects the pinned init container', async () => {
    const object = await pod({ 'modelseal.dev/model': world.refs.unsigned });
    const rev = admissionReview(object, NS);
    const res = await review(audit, '/mutate', rev);
    expect(res.allowed).toBe(true);
    expect(res.warnings.join('\n')).toMatch(/SIGNATURE_MISSING: no OMS model signature/);
    const out = applied((rev.request as { object: Record<string, any> }).object, res);
    const env = Object.fromEntries(out.spec.initContainers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.MODELSEAL_SOURCE).toBe(`${world.refs.unsigned}@${await world.digest(world.refs.unsigned)}`);
  });

  it('an unreachable registry is refused, and the refusal is not remembered', async () => {
    const ref = `oci://127.0.0.1:${await freePort()}/models/tiny:v1`;
    const res = await review(hook, '/mutate', admissionReview(await pod({ 'modelseal.dev/model': ref }), NS));
    expect(res.allowed).toBe(false);
    expect(res.status.message).toMatch(/: (NETWORK|SOURCE_UNAVAILABLE): /);
  });
});

describe('hostile and odd requests', () => {
  it('refuses what is not an AdmissionReview v1 POST with the right status codes', async () => {
    const post = (body: string, type = 'application/json') => request(hook, 'POST', '/mutate', body, { 'content-type': type });
    expect((await post('{not json')).status).toBe(400);
    expect((await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }))).status).toBe(400);
    expect((await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }))).body).toMatch(/request.uid/);
    expect((await post('{}', 'text/plain')).status).toBe(415);
    expect((await post('x'.repeat(3 * 1024 * 1024 + 1))).status).toBe(413);
    expect((await request(hook, 'GET', '/mutate')).status).toBe(405);
    expect((await request(hook, 'POST', '/other', '{}', { 'content-type': 'application/json' })).status).toBe(404);
  });

  it('bad annotations and name clashes are denied with the reason', async () => {
    const deny = async (annotations: Record<string, string>, extraSpec: Record<string, unknown> = {}) => {
      const res = await review(hook, '/mutate', admissionReview(await pod(annotations, extraSpec), NS));
      expect(res.allowed).toBe(false);
      return res.status.message as string;
    };
    const m = world.refs.good;
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/into': 'models/x' })).toContain('normalised absolute path');
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/into': '/models/../etc/x' })).toContain('normalised absolute path');
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/into': '/model' })).toContain('needs a parent directory');
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/containers': 'nope' })).toContain('names no container nope');
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/policy': '../../etc/passwd' })).toContain('must be a policy name');
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/policy': 'strict' })).toMatch(/POLICY_INVALID: policy .*strict\.yaml does not exist/);
    expect(await deny({ 'modelseal.dev/model': m, 'modelseal.dev/volume': 'cfg' }, { volumes: [{ name: 'cfg', configMap: { name: 'x' } }] })).toContain('configMap volume');
    expect(await deny({ 'modelseal.dev/model': m }, { initContainers: [{ name: 'modelseal-init', image: 'evil' }] })).toContain('already has an init container named modelseal-init that the webhook did not inject');
    expect(await deny({ 'modelseal.dev/model': m }, { volumes: [{ name: 'modelseal-model', emptyDir: {} }] })).toContain('already has a volume named modelseal-model');
    expect(await deny({ 'modelseal.dev/model': 's3://bucket/model' })).toMatch(/REFERENCE_INVALID/);
  });

  it("a Pod's own volume receives the model, and every mount of it turns read-only", async () => {
    const object = await kubectlPod('llm', [{ name: 'server', image: 'x', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] } as never, { name: 'sidecar', image: 'y' }], {
      'modelseal.dev/model': world.refs.good,
      'modelseal.dev/volume': 'cache',
      'modelseal.dev/into': '/cache/model',
      'modelseal.dev/containers': 'server',
    }, { volumes: [{ name: 'cache', emptyDir: { sizeLimit: '1Gi' } }], securityContext: { runAsUser: 1000 } });
    const rev = admissionReview(object, NS);
    const out = applied((rev.request as { object: Record<string, any> }).object, await review(hook, '/mutate', rev));
    expect(out.spec.containers[0].volumeMounts).toEqual([{ name: 'cache', mountPath: '/cache', readOnly: true }]);
    expect(out.spec.containers[1].volumeMounts).toBeUndefined();
    expect(out.spec.volumes.filter((v: any) => v.name === 'modelseal-model')).toEqual([]);
    expect(out.spec.initContainers[0].volumeMounts[0]).toEqual({ name: 'cache', mountPath: '/cache' });
    expect(out.spec.securityContext).toEqual({ runAsUser: 1000, fsGroup: 65532 });
  });

  it('Pods without a model, other kinds and other operations pass untouched', async () => {
    const plain = await review(hook, '/mutate', admissionReview(await pod({}), NS));
    expect(plain).toMatchObject({ allowed: true });
    expect(plain.patch).toBeUndefined();
    const upd = await review(hook, '/mutate', admissionReview(await pod({ 'modelseal.dev/model': world.refs.unsigned }), NS, { operation: 'UPDATE' }));
    expect(upd.allowed).toBe(true);
    const dep = await review(hook, '/mutate', admissionReview(await kubectlDeployment('web', 'x', { 'modelseal.dev/model': world.refs.unsigned }), NS, { kind: 'Deployment' }));
    expect(dep.allowed).toBe(true);
  });
});

describe('image volumes', () => {
  it('a model image volume is verified, pinned, and gets a verify-in-place init container', async () => {
    const ref = world.refs.good.replace('oci://', '');
    const object = await pod({}, { volumes: [{ name: 'weights', image: { reference: ref, pullPolicy: 'IfNotPresent' } }] });
    const rev = admissionReview(object, NS);
    const res = await review(hook, '/mutate', rev);
    expect(res.allowed, JSON.stringify(res.status)).toBe(true);
    const out = applied((rev.request as { object: Record<string, any> }).object, res);
    const digest = await world.digest(world.refs.good);
    expect(out.spec.volumes[0].image.reference).toBe(`${ref}@${digest}`);
    const v = out.spec.initContainers.find((c: any) => c.name === 'modelseal-verify-weights');
    const env = Object.fromEntries(v.env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ MODELSEAL_MODE: 'verify-in-place', MODELSEAL_SOURCE: `${world.refs.good}@${digest}`, MODELSEAL_PATH: '/var/run/modelseal/image/weights' });
    expect(v.volumeMounts).toContainEqual({ name: 'weights', mountPath: '/var/run/modelseal/image/weights', readOnly: true });
    expect(v.securityContext.readOnlyRootFilesystem).toBe(true);
    const ok = await review(hook, '/validate', admissionReview(out, NS));
    expect(ok.allowed, JSON.stringify(ok.status)).toBe(true);
  });

  it('an unsigned image volume is denied; an unpinned one is refused by the validating endpoint', async () => {
    const unsigned = await pod({}, { volumes: [{ name: 'weights', image: { reference: world.refs.unsigned.replace('oci://', '') } }] });
    const res = await review(hook, '/mutate', admissionReview(unsigned, NS));
    expect(res.allowed).toBe(false);
    expect(res.status.message).toMatch(/^modelseal: image volume weights \(.*\): SIGNATURE_MISSING/);
    const unpinned = await pod({}, { volumes: [{ name: 'weights', image: { reference: world.refs.good.replace('oci://', '') } }] });
    const v = await review(hook, '/validate', admissionReview(unpinned, NS));
    expect(v.allowed).toBe(false);
    expect(v.status.message).toContain('has no modelseal-verify-weights init container');
  });
});

describe('modelseal webhook certs', () => {
  it('writes a CA and a serving certificate that openssl accepts for the Service name', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-verify_hostname', 'modelseal-webhook.modelseal.svc', '-CAfile', path.join(certs.dir, 'ca.crt'), path.join(certs.dir, 'tls.crt')]).toString();
    expect(out.trim()).toMatch(/: OK$/);
    const wrongName = (() => {
      try {
        execFileSync('openssl', ['verify', '-verify_hostname', 'other.modelseal.svc', '-CAfile', path.join(certs.dir, 'ca.crt'), path.join(certs.dir, 'tls.crt')], { stdio: 'pipe' });
        return 'accepted';
      } catch {
        return 'refused';
      }
    })();
    expect(wrongName).toBe('refused');
    // Never overwrites a deployed key.
    const { runCli } = await import('../helpers/cli.js');
    const again = await runCli(['webhook', 'certs', '--out', certs.dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/ca\.crt: it exists/);
    expect((await runCli(['webhook', 'certs', '--out', certs.dir + '-x', '--service', 'Bad_Name'])).stderr).toContain('is not a DNS-1123 label');
    const bundle = (await readFile(path.join(certs.dir, 'caBundle'), 'utf8')).trim();
    expect(Buffer.from(bundle, 'base64').toString()).toBe(await readFile(path.join(certs.dir, 'ca.crt'), 'utf8'));
  });
});
