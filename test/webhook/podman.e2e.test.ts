import { createHash, randomBytes } from 'node:crypto';
import jsonpatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { containerState, kubePlay, logs, podman, preparePodImages, waitExit, type PlayedPod } from '../harness/podman.js';
import { modelFiles } from '../init/fixtures.js';
import { admissionReview, kubectlPod, patchOf, review, startWebhook, type RunningWebhook } from './kube.js';
import { startWebhookWorld, type WebhookWorld } from './world.js';

/**
 * Admission to pod start: a Pod from kubectl goes through the running webhook over HTTPS, the
 * JSONPatch it returns is applied with an RFC 6902 library, and the patched Pod is run by
 * `podman kube play` with the repo's init image and seccomp profile. Refused Pods never run.
 */
const NS = 'e2e';
let world: WebhookWorld;
let hook: RunningWebhook;
let baseImage: string;
let initImage: string;
let seccompRoot: string;
const pods: PlayedPod[] = [];

beforeAll(async () => {
  world = await startWebhookWorld();
  ({ baseImage, initImage, seccompRoot } = await preparePodImages());
  hook = await startWebhook([
    '--init-image', initImage,
    '--trust-dir', world.trustDir,
    // podman 4.3 kube play has no configMap volumes: the trust directory reaches the pod as a hostPath.
    '--trust-volume', JSON.stringify({ hostPath: { path: world.trustDir, type: 'Directory' } }),
    '--plain-http', '--pod-plain-http',
  ]);
}, 900_000);

afterAll(async () => {
  for (const p of pods) await p.remove();
  await hook?.stop();
  await world?.stop();
});

const SERVER_SCRIPT = [
  'echo SERVER_STARTED',
  'sha256sum /models/model/weights.dat',
  'stat -c "MODE %a %n" /models/model /models/model/weights.dat',
  'echo x >> /models/model/weights.dat && echo WRITE_SUCCEEDED || echo WRITE_REFUSED',
  'touch /models/model/new-file && echo CREATE_SUCCEEDED || echo CREATE_REFUSED',
].join('; ');

async function annotatedPod(name: string, reference: string): Promise<Record<string, any>> {
  return kubectlPod(name, [{ name: 'server', image: baseImage, command: ['/bin/sh', '-c', SERVER_SCRIPT] } as never], { 'modelseal.dev/model': reference });
}

/**
 * What podman 4.3 `kube play` needs beyond Kubernetes, none of it touching what the webhook
 * decided: loopback registry via the host network, local images, no restarts, the namespace
 * as a value (it resolves fieldRef metadata.name only), and a volume name of the pod's own
 * (it names an emptyDir's volume after the volume, shared by every pod).
 */
function forPodman(pod: Record<string, any>): Record<string, any> {
  const p = structuredClone(pod);
  p.spec.hostNetwork = true;
  p.spec.restartPolicy = 'Never';
  p.metadata.annotations['io.podman.annotations.init.container.type'] = 'always';
  delete p.metadata.namespace;
  // podman 4.3 applies the label-value limit (63 characters) to annotations; Kubernetes does not.
  // Only the informational modelseal.dev/pinned and /signer are that long (asserted on the patch).
  for (const [k, v] of Object.entries(p.metadata.annotations)) if ((v as string).length > 63) delete p.metadata.annotations[k];
  const volume = `models-${p.metadata.name}`;
  for (const v of p.spec.volumes) if (v.name === 'modelseal-model') v.name = volume;
  for (const c of [...p.spec.initContainers, ...p.spec.containers]) {
    c.imagePullPolicy = 'Never';
    for (const m of c.volumeMounts ?? []) if (m.name === 'modelseal-model') m.name = volume;
    c.env = c.env?.map((e: any) => (e.name === 'POD_NAMESPACE' ? { name: e.name, value: NS } : e));
  }
  return p;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('webhook → patched Pod → podman kube play', () => {
  it('a signed model: admitted with the tag pinned; the pod starts on exactly the admitted bytes, read-only, even after the tag moves', async () => {
    const name = `wh-good-${randomBytes(3).toString('hex')}`;
    const object = await annotatedPod(name, world.refs.good);
    const rev = admissionReview(object, NS);
    const res = await review(hook, '/mutate', rev);
    expect(res.allowed, JSON.stringify(res.status)).toBe(true);
    const admitted = await world.digest(world.refs.good);
    const patched = jsonpatch.applyPatch(structuredClone((rev.request as { object: Record<string, any> }).object), patchOf(res), true, false).newDocument;
    expect(patched.spec.initContainers[0].env[0]).toEqual({ name: 'MODELSEAL_SOURCE', value: `${world.refs.good}@${admitted}` });

    // The tag moves to other (also signed) bytes after admission: the pinned pod must not follow it.
    await world.republish(modelFiles(21), 'models/tiny:v1');
    expect(await world.digest(world.refs.good)).not.toBe(admitted);

    const played = await kubePlay(stringify(forPodman(patched)), name, { seccompRoot, volumes: [`models-${name}`] });
    pods.push(played);
    expect(played.play.code, played.play.stderr + played.play.stdout).toBe(0);
    expect(await containerState(`${name}-modelseal-init`), played.play.stderr).toMatchObject({ exitCode: 0 });
    expect(await waitExit(`${name}-server`)).toBe(0);
    const out = await logs(`${name}-server`);
    const text = out.stdout + out.stderr;
    expect(text).toContain('SERVER_STARTED');
    expect(text).toContain(`${sha(world.goodFiles['weights.dat']!)}  /models/model/weights.dat`);
    expect(text).toContain('MODE 444 /models/model/weights.dat');
    expect(text).toContain('WRITE_REFUSED');
    expect(text).toContain('CREATE_REFUSED');

    const init = await logs(`${name}-modelseal-init`);
    const line = (init.stdout + '\n' + init.stderr).split('\n').filter((l) => l.includes('weight_integrity_check')).map((l) => JSON.parse(l))[0];
    expect(line).toMatchObject({ outcome: 'allowed', pod_name: name, namespace: NS, model: `${world.refs.good}@${admitted}`, resolved_digest: admitted });
  });

  for (const scenario of ['unsigned', 'wrongSigner', 'tamperedManifest', 'noMatch'] as const) {
    it(`${scenario}: denied at admission with its reason; the pod never exists`, async () => {
      const name = `wh-${scenario.toLowerCase()}-${randomBytes(3).toString('hex')}`;
      const res = await review(hook, '/mutate', admissionReview(await annotatedPod(name, world.refs[scenario]), NS));
      expect(res.allowed).toBe(false);
      expect(res.status.message).toMatch(/^modelseal: oci:\/\/\S+: [A-Z_]+: \S/);
      // The apiserver would not create it; nothing here plays it either, and podman knows no such pod.
      expect((await podman(['pod', 'exists', name], { allowFail: true })).code).toBe(1);
    });
  }
});
