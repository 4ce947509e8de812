import { execFile } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { serviceDnsNames } from '../../src/webhook/certs.js';
import { cleanEnv, tempDir } from '../harness/process.js';
import { REPO } from '../helpers/cli.js';

/** deploy/webhook builds with kustomize (kubectl's), and its pieces agree with each other and the CLI. */
const run = promisify(execFile);
type Doc = Record<string, any>;

async function build(dir: string): Promise<Doc[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { env: cleanEnv({ KUBECONFIG: '/dev/null' }), maxBuffer: 8 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJSON() as Doc);
}
const find = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=');

describe('deploy/webhook', () => {
  it('base: Service, Deployment and both webhook configurations point at each other, fail closed, and exclude their own namespace', async () => {
    const docs = await build(path.join(REPO, 'deploy/webhook/base'));
    const [svc] = find(docs, 'Service');
    const [dep] = find(docs, 'Deployment');
    expect(svc!.metadata.namespace).toBe('modelseal');
    const args: string[] = dep!.spec.template.spec.containers[0].args;
    expect(args.slice(0, 2)).toEqual(['webhook', 'serve']);
    expect(flag(args, 'mode')).toBe('enforce');
    const checkTimeout = Number(flag(args, 'check-timeout'));
    expect(find(docs, 'PodDisruptionBudget')).toHaveLength(1);
    for (const [kind, endpoint] of [['MutatingWebhookConfiguration', '/mutate'], ['ValidatingWebhookConfiguration', '/validate']] as const) {
      const [cfg] = find(docs, kind);
      const hook = cfg!.webhooks[0];
      expect(hook.clientConfig.service).toEqual({ namespace: 'modelseal', name: svc!.metadata.name, path: endpoint, port: 443 });
      expect(hook).toMatchObject({ admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail' });
      expect(hook.timeoutSeconds).toBeGreaterThan(checkTimeout);
      expect(hook.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      expect(hook.namespaceSelector.matchExpressions).toContainEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'modelseal'] });
    }
    // `modelseal webhook certs` defaults name exactly what the Service is dialled as.
    expect(serviceDnsNames(svc!.metadata.name, 'modelseal')).toContain(`${svc!.metadata.name}.modelseal.svc`);
  });

  it('cert-manager: the serving certificate names the Service and the CA is injected instead of a caBundle', async () => {
    const docs = await build(path.join(REPO, 'deploy/webhook/cert-manager'));
    const cert = find(docs, 'Certificate').find((c) => c.metadata.name === 'modelseal-webhook-tls')!;
    expect(cert.spec.dnsNames).toContain('modelseal-webhook.modelseal.svc');
    const [dep] = find(docs, 'Deployment');
    expect(dep!.spec.template.spec.volumes.find((v: Doc) => v.name === 'tls').secret.secretName).toBe(cert.spec.secretName);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const [cfg] = find(docs, kind);
      expect(cfg!.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(`modelseal/${cert.metadata.name}`);
      expect(cfg!.webhooks[0].clientConfig.caBundle).toBeUndefined();
    }
  });

  it('the audit component switches exactly the --mode argument', async () => {
    const dir = await tempDir('kustomize');
    await cp(path.join(REPO, 'deploy/webhook'), path.join(dir, 'webhook'), { recursive: true });
    await mkdir(path.join(dir, 'webhook/audit-overlay'));
    await writeFile(path.join(dir, 'webhook/audit-overlay/kustomization.yaml'), 'resources: [../base]\ncomponents: [../components/audit]\n');
    const [dep] = find(await build(path.join(dir, 'webhook/audit-overlay')), 'Deployment');
    const args: string[] = dep!.spec.template.spec.containers[0].args;
    expect(flag(args, 'mode')).toBe('audit');
    expect(args.filter((a) => a.startsWith('--mode'))).toHaveLength(1);
  });
});
