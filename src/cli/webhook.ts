import { watch } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ModelsealError } from '../errors.js';
import { logger } from '../log.js';
import { CachingChecker } from '../webhook/cache.js';
import { makeWebhookCerts, serviceDnsNames } from '../webhook/certs.js';
import { ociModelChecker } from '../webhook/checker.js';
import { parseSeccomp, parseTrustVolume, POLICY_NAME, type WebhookConfig } from '../webhook/config.js';
import { startWebhookServer } from '../webhook/server.js';
import { parseByteSize } from '../watch/rate.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';

export function webhookCommand(): Command {
  const cmd = new Command('webhook').description('Kubernetes admission webhook: verify model signatures before a Pod exists, pin tags to digests, inject the init container');
  cmd.addCommand(serveCommand());
  cmd.addCommand(certsCommand());
  return cmd;
}

interface ServeFlags extends OciFlags {
  tlsCert: string;
  tlsKey: string;
  listen: string;
  initImage: string;
  trustDir: string;
  trustVolume: string;
  defaultPolicy: string;
  mode: 'enforce' | 'audit';
  seccomp: string;
  registrySecret?: string;
  podPlainHttp?: boolean;
  checkTimeout: string;
  injectWatch?: boolean;
  watchRate: string;
  watchInterval: string;
  cacheTtl: string;
  tagTtl: string;
}

function seconds(v: string, flag: string, min: number, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min || Number(v) > max) throw new ModelsealError('USAGE', `${flag} must be a number of seconds from ${min} to ${max}`);
  return Number(v) * 1000;
}

/** Checked here so a typo fails the webhook at start, not every sidecar it injects. */
function watchRate(v: string): string {
  try {
    parseByteSize(v);
  } catch (err) {
    throw new ModelsealError('USAGE', `--watch-rate: ${(err as Error).message}`);
  }
  return v;
}

function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('serve POST /mutate and /validate (AdmissionReview v1) over HTTPS, GET /healthz and /readyz')
    .requiredOption('--tls-cert <file>', 'serving certificate (PEM), valid for <service>.<namespace>.svc')
    .requiredOption('--tls-key <file>', 'its private key (PEM)')
    .option('--listen <host:port>', 'address to listen on', '0.0.0.0:8443')
    .requiredOption('--init-image <image>', 'the modelseal init image to inject (pin it: image@sha256:…)')
    .option('--trust-dir <dir>', 'trust policies (<name>.yaml) and the keys they name', '/etc/modelseal/trust')
    .option('--trust-volume <json>', 'the Pod-side volume source holding the same files', '{"configMap":{"name":"modelseal-trust"}}')
    .option('--default-policy <name>', 'policy for Pods that name none (modelseal.dev/policy)', 'default')
    .addOption(new Option('--mode <mode>', 'enforce: deny what does not verify; audit: allow with a warning').choices(['enforce', 'audit']).default('enforce'))
    .option('--seccomp <profile>', 'init container seccomp: RuntimeDefault, or a Localhost profile path under the kubelet seccomp root', 'modelseal-init.json')
    .option('--registry-secret <name>', 'dockerconfigjson Secret mounted into the injected init container')
    .option('--pod-plain-http', 'let the injected init container use plain HTTP (test registries only)')
    .option('--check-timeout <seconds>', 'longest verification before refusing; keep below the configuration timeoutSeconds', '8')
    .option('--cache-ttl <seconds>', 'how long a verdict on a digest is remembered', '600')
    .option('--inject-watch', 'also inject the modelseal watch native sidecar (continuous re-verification; Pod readiness follows it)')
    .option('--watch-rate <bytes/s>', 'read-rate cap of the injected watch sidecar', '32MiB')
    .option('--watch-interval <seconds>', 'full re-verification period of the injected watch sidecar', '300')
    .option('--tag-ttl <seconds>', 'how long a tag → digest resolution is remembered (0: every admission resolves)', '30');
  addOciFlags(cmd);
  return cmd.action(action(async (f: ServeFlags) => {
    const m = /^(.*):(\d{1,5})$/.exec(f.listen);
    if (!m || Number(m[2]) > 65535) throw new ModelsealError('USAGE', `--listen must be host:port, not ${f.listen}`);
    if (!POLICY_NAME.test(f.defaultPolicy)) throw new ModelsealError('USAGE', `--default-policy must be a policy name, not ${f.defaultPolicy}`);
    const config: WebhookConfig = {
      mode: f.mode,
      initImage: f.initImage,
      trustDir: path.resolve(f.trustDir),
      trustVolume: parseTrustVolume(f.trustVolume),
      defaultPolicy: f.defaultPolicy,
      seccomp: parseSeccomp(f.seccomp),
      ...(f.registrySecret ? { registrySecret: f.registrySecret } : {}),
      plainHttp: f.podPlainHttp ?? false,
      checkTimeoutMs: seconds(f.checkTimeout, '--check-timeout', 1, 29),
      ...(f.injectWatch ? { watch: { rate: watchRate(f.watchRate), intervalSeconds: seconds(f.watchInterval, '--watch-interval', 1, 86_400) / 1000 } } : {}),
    };
    const checker = new CachingChecker(ociModelChecker(ociClientOptions(f)), config.trustDir, {
      decisionTtlMs: seconds(f.cacheTtl, '--cache-ttl', 0, 86_400),
      tagTtlMs: seconds(f.tagTtl, '--tag-ttl', 0, 3600),
      maxEntries: 4096,
    });
    const server = await startWebhookServer({ certFile: f.tlsCert, keyFile: f.tlsKey, host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), config, checker });
    logger().info({ port: server.port, mode: config.mode, initImage: config.initImage }, 'modelseal webhook listening');
    // cert-manager and kubelet swap Secret files in place (atomic symlink flip): reload, never restart.
    const dir = path.dirname(path.resolve(f.tlsCert));
    watch(dir, { persistent: false }, () => {
      try {
        server.reloadTls();
      } catch (err) {
        logger().warn({ err }, 'serving certificate reload failed; keeping the old one');
      }
    });
    await new Promise<void>((resolve) => {
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => void server.close().then(resolve));
    });
  }));
}

interface CertsFlags {
  service: string;
  namespace: string;
  out: string;
  days: string;
  json?: boolean;
}

function certsCommand(): Command {
  return new Command('certs')
    .description('write a CA, a serving certificate for <service>.<namespace>.svc, and the caBundle value')
    .option('--service <name>', 'the webhook Service', 'modelseal-webhook')
    .option('--namespace <ns>', "the webhook's namespace", 'modelseal')
    .requiredOption('--out <dir>', 'directory for ca.crt, ca.key, tls.crt, tls.key, caBundle')
    .option('--days <n>', 'serving certificate lifetime (the CA lives twice as long)', '365')
    .option('--json', 'print the file paths and caBundle as JSON')
    .action(action(async (f: CertsFlags) => {
      const certs = makeWebhookCerts({ dnsNames: serviceDnsNames(f.service, f.namespace), days: Number(f.days) });
      await mkdir(f.out, { recursive: true, mode: 0o700 });
      const files = {
        'ca.crt': { text: certs.caCertPem, mode: 0o644 },
        'ca.key': { text: certs.caKeyPem, mode: 0o600 },
        'tls.crt': { text: certs.certPem, mode: 0o644 },
        'tls.key': { text: certs.keyPem, mode: 0o600 },
        caBundle: { text: certs.caBundle + '\n', mode: 0o644 },
      };
      // flag 'wx': never overwrite a key someone already deployed.
      for (const [name, { text, mode }] of Object.entries(files)) {
        await writeFile(path.join(f.out, name), text, { mode, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
          throw new ModelsealError('USAGE', `cannot write ${path.join(f.out, name)}: ${err.code === 'EEXIST' ? 'it exists (remove it to make new certificates)' : err.message}`);
        });
      }
      emit(
        !!f.json,
        `Wrote ${Object.keys(files).map((n) => path.join(f.out, n)).join(', ')}\n  serving names: ${certs.dnsNames.join(', ')}\n  valid until: ${certs.notAfter}\n  kubectl -n ${f.namespace} create secret tls ${f.service}-tls --cert=${path.join(f.out, 'tls.crt')} --key=${path.join(f.out, 'tls.key')}\n  caBundle: put the contents of ${path.join(f.out, 'caBundle')} in both webhook configurations`,
        { ok: true, dir: path.resolve(f.out), dnsNames: certs.dnsNames, notAfter: certs.notAfter, caBundle: certs.caBundle },
      );
    }));
}
