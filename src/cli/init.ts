import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { exitCodeFor } from '../errors.js';
import { createLogger, logDecision, logLevel, setLogFormat } from '../log.js';
import { loadInitConfig } from '../init/config.js';
import { failedEvent } from '../init/decision.js';
import { runInit } from '../init/run.js';
import { addTrustFlags } from './common.js';
import { addTelemetryFlag } from './telemetry-options.js';

/**
 * The init container's entrypoint. Its whole output is one JSON decision line on stderr (no
 * human text: container logs stay machine-parseable), and the exit code.
 */
export function initCommand(): Command {
  const cmd = new Command('init')
    .description('Kubernetes init container: verify the model (and place it read-only) before the pod starts; exit 0 only when allowed')
    .option('--config <file>', 'settings file (YAML/JSON; default $MODELSEAL_CONFIG, else /etc/modelseal/config.yaml if present)')
    .option('--source <ref>', 'model reference: oci://host/repo:tag[@sha256:…], s3://bucket/prefix, or a directory [MODELSEAL_SOURCE]')
    .addOption(new Option('--mode <mode>', 'pull into the volume, or verify a mounted model in place [MODELSEAL_MODE]').choices(['pull', 'verify-in-place']))
    .option('--into <dir>', 'pull mode: where the verified model is placed (default /models/model) [MODELSEAL_INTO]')
    .option('--path <dir>', 'verify-in-place mode: the mounted model directory [MODELSEAL_PATH]')
    .option('--receipt <file>', 'receipt path, outside the model (default <into>.receipt.json) [MODELSEAL_RECEIPT]')
    .option('--signature <file>', 'detached signature for a directory source (default <dir>/model.sig) [MODELSEAL_SIGNATURE]')
    .option('--ignore-unsigned-files', 'skip files the signature does not cover instead of failing [MODELSEAL_IGNORE_UNSIGNED_FILES]')
    .option('--concurrency <n>', 'parallel downloads [MODELSEAL_CONCURRENCY]')
    .option('--registry-auth-file <file>', 'docker config.json / mounted .dockerconfigjson with registry credentials [MODELSEAL_REGISTRY_AUTH_FILE]')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for the registry or S3 endpoint [MODELSEAL_CA_FILE]')
    .option('--plain-http', 'allow plain HTTP to the registry (test registries only) [MODELSEAL_PLAIN_HTTP]')
    .option('--timeout <duration>', 'deadline for the whole run, e.g. 30m, 2h (default 2h; exit 7 when it passes) [MODELSEAL_TIMEOUT]')
    .option('--stall-timeout <duration>', 'fail (exit 7) when a transfer moves less than 64 KiB in this long (default 60s) [MODELSEAL_STALL_TIMEOUT]');
  addTrustFlags(cmd, true);
  addTelemetryFlag(cmd);
  cmd.action(async (flags: Record<string, unknown> & { config?: string }) => {
    process.exitCode = await initMain(flags, process.env);
  });
  return cmd;
}

/** Load settings and run; a bad setting is a decision too (`failed`, exit 2), with its own line. */
export async function initMain(flags: Record<string, unknown> & { config?: string }, env: NodeJS.ProcessEnv): Promise<number> {
  // init's whole output is its decision line: JSON even on a terminal.
  setLogFormat('json');
  let cfg;
  try {
    logLevel(env.MODELSEAL_LOG_LEVEL);
    cfg = await loadInitConfig(flags, env, existsSync);
  } catch (err) {
    const source = (flags.source as string | undefined) ?? env.MODELSEAL_SOURCE ?? '';
    const pod = { ...(env.POD_NAME ? { name: env.POD_NAME } : {}), ...(env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}) };
    // The configured level may be the bad setting: this line goes out at the default level.
    logDecision(failedEvent({ pod, reference: source, mode: String(flags.mode ?? env.MODELSEAL_MODE ?? 'pull') }, err), createLogger('info'));
    return exitCodeFor(err);
  }
  const outcome = await runInit(cfg);
  // Stopped by a signal or a deadline: a source may still hold a socket; end with the decision made.
  if (['TERMINATED', 'INTERRUPTED', 'TIMEOUT'].includes(String(outcome.event.code))) setTimeout(() => process.exit(outcome.exitCode), 200);
  return outcome.exitCode;
}
