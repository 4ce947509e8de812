import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { settingsFromFile } from '../../src/init/config.js';
import { parsePolicy } from '../../src/trust/policy/load.js';
import { REPO } from '../helpers/cli.js';

/** The shipped manifests agree with each other and with what the podman test proves for pod.yaml. */
const DIR = path.join(REPO, 'init-container');
const read = (rel: string) => readFile(path.join(DIR, rel), 'utf8');
const docs = async (rel: string) => parseAllDocuments(await read(rel)).map((d) => d.toJSON());

interface PodSpec {
  initContainers: Array<{ name: string; securityContext: Record<string, unknown>; volumeMounts: Array<{ name: string; mountPath: string }> }>;
  containers: Array<{ volumeMounts?: Array<{ name: string; readOnly?: boolean }> }>;
}

const HARDENED = {
  runAsNonRoot: true,
  runAsUser: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'Localhost', localhostProfile: 'modelseal-init.json' },
};
const ANNOTATION = 'container.seccomp.security.alpha.kubernetes.io/modelseal-init';

function checkInit(spec: PodSpec, annotations: Record<string, string>) {
  const init = spec.initContainers.find((c) => c.name === 'modelseal-init')!;
  expect(init.securityContext).toMatchObject(HARDENED);
  expect(init.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models' });
  // podman kube play reads the annotation only; Kubernetes requires it to agree with the field.
  expect(annotations[ANNOTATION]).toBe(`localhost/${HARDENED.seccompProfile.localhostProfile}`);
}

describe('shipped manifests', () => {
  it('pod.yaml: hardened init container, server mounts the volume read-only, downward-API pod fields', async () => {
    const [pod] = await docs('examples/pod.yaml');
    checkInit(pod.spec, pod.metadata.annotations);
    for (const c of pod.spec.containers) expect(c.volumeMounts.find((m: { name: string }) => m.name === 'models')).toMatchObject({ readOnly: true });
    const env = Object.fromEntries(pod.spec.initContainers[0].env.map((e: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
  });

  it('deployment.yaml: same init container; its config and policy parse', async () => {
    const [deploy, cm] = await docs('examples/deployment.yaml');
    checkInit(deploy.spec.template.spec, deploy.spec.template.metadata.annotations);
    for (const c of deploy.spec.template.spec.containers) expect(c.volumeMounts.find((m: { name: string }) => m.name === 'models')).toMatchObject({ readOnly: true });
    expect(settingsFromFile(cm.data['config.yaml'], 'config.yaml')).toMatchObject({ mode: 'pull', policy: '/etc/modelseal/config/policy.yaml' });
    expect(parsePolicy('/etc/modelseal/config/policy.yaml', Buffer.from(cm.data['policy.yaml'])).models).toHaveLength(1);
  });

  it('kustomize component patches: the same hardened init container for apps and batch workloads', async () => {
    for (const rel of ['kustomize/component/init-container.yaml', 'kustomize/component/init-container-job.yaml']) {
      const [patch] = await docs(rel);
      checkInit(patch.spec.template.spec, patch.spec.template.metadata.annotations);
    }
    const [server] = await docs('kustomize/example/server.yaml');
    expect(server.metadata.labels['modelseal.io/verify']).toBe('true');
    expect(server.spec.template.spec.containers[0].volumeMounts[0]).toMatchObject({ name: 'models', readOnly: true });
    expect(settingsFromFile(await read('kustomize/example/config.yaml'), 'config.yaml')).toMatchObject({ source: expect.stringMatching(/^oci:\/\//) });
    expect(parsePolicy(path.join(DIR, 'kustomize/example/policy.yaml'), Buffer.from(await read('kustomize/example/policy.yaml'))).models).toHaveLength(1);
  });

  it('Dockerfile: Node 24 runtime by build arg, distroless non-root default, numeric non-root USER, exec-form entrypoint', async () => {
    const df = await read('Dockerfile');
    expect(df).toMatch(/^ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs24-debian12:nonroot$/m);
    expect(df).toMatch(/^FROM \$\{RUNTIME_IMAGE\}$/m);
    expect(df).toMatch(/^USER 65532:65532$/m);
    expect(df).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "--max-semi-space-size=1", "\/app\/bin\/modelseal", "init"\]$/m);
  });

  it('seccomp.json: an allow-list with a refusing default', async () => {
    const p = JSON.parse(await read('seccomp.json'));
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.syscalls).toHaveLength(1);
    expect(p.syscalls[0].action).toBe('SCMP_ACT_ALLOW');
    const names: string[] = p.syscalls[0].names;
    expect(names).toEqual([...names].sort());
    for (const needed of ['execve', 'openat', 'read', 'write', 'connect', 'rename', 'chmod', 'exit_group']) expect(names).toContain(needed);
    for (const never of ['ptrace', 'mount', 'umount2', 'pivot_root', 'kexec_load', 'init_module', 'bpf', 'setns', 'unshare', 'keyctl', 'add_key', 'reboot', 'swapon']) {
      expect(names).not.toContain(never);
    }
  });
});
