import { Option, type Command } from 'commander';
import { ModelsealError } from '../errors.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { parseMirrorFlag } from '../stores/mirrors/resolve.js';
import type { MirrorSettings } from '../stores/mirrors/types.js';

/** Blobs from this size up take the parallel-range path when --parallel-ranges asks for it. */
export const RANGED_MIN_BYTES = 256 * 1024 * 1024;

/** Registry flags shared by pull, publish and inspect (skopeo/podman spellings where they exist). */
export interface OciFlags {
  registryAuthFile?: string;
  plainHttp?: boolean;
  insecureHttp?: boolean;
  caFile?: string;
  registryUsername?: string;
  registryRetries?: string;
  manifestLimit?: string;
  parallelRanges?: string;
  mirror?: string[];
  hostsDir?: string;
  registriesConf?: string;
  mirrorSignatures?: boolean;
  mirrorStallTimeout?: string;
}

export function addOciFlags(cmd: Command): Command {
  return cmd
    .option('--registry-auth-file <file>', 'docker config.json / auth.json / .dockerconfigjson (default: REGISTRY_AUTH_FILE, $DOCKER_CONFIG, ~/.docker/config.json, mounted Secret)')
    .option('--plain-http', 'talk plain HTTP to the registry (loopback/test registries only); never a fallback from HTTPS (ORAS spelling, as in init)')
    // The name this flag had before it was aligned with `init` and ORAS; kept so scripts keep working.
    .addOption(new Option('--insecure-http', 'same as --plain-http').hideHelp())
    .option('--ca-file <file>', 'PEM CA bundle trusted in addition to the system roots')
    .option('--registry-username <user>', 'registry user; the password is read from MODELSEAL_REGISTRY_PASSWORD (never from argv)')
    .addOption(new Option('--registry-retries <n>', 'retries for 429/5xx/resets and resumes of cut downloads').default('4'))
    .option('--parallel-ranges <n>', 'fetch blobs of 256 MiB or more as n parallel 8 MiB byte ranges, for registries or CDNs that cap each connection (default: one stream)')
    .addOption(new Option('--manifest-limit <bytes>', 'largest manifest accepted').default(String(4 * 1024 * 1024)).hideHelp())
    .option('--mirror <host=url>', 'pull blobs for registry <host> through the mirror at <url> first (repeatable, tried in order, then the origin); every byte is still verified', (v: string, prev: string[] = []) => [...prev, v])
    .option('--hosts-dir <dir>', 'read mirrors from containerd host configuration (config_path, e.g. /etc/containerd/certs.d; ":"-separated list)')
    .option('--registries-conf <file>', 'read mirrors from a containers registries.conf (v2), e.g. /etc/containers/registries.conf, with its registries.conf.d drop-ins')
    .option('--mirror-signatures', 'also fetch signatures through the mirrors (default: from the origin only)')
    .option('--mirror-stall-timeout <seconds>', 'skip a mirror for a blob when it sends nothing for this long (default 15)');
}

/** The mirror flags, or undefined when none is given. */
export function mirrorSettings(f: OciFlags): MirrorSettings | undefined {
  const m: MirrorSettings = {};
  if (f.mirror?.length) m.flags = f.mirror.map(parseMirrorFlag);
  if (f.hostsDir) m.hostsDir = f.hostsDir;
  if (f.registriesConf) m.registriesConf = f.registriesConf;
  if (f.mirrorSignatures) m.signatures = true;
  const stall = intFlag(f.mirrorStallTimeout, 'mirror-stall-timeout', 1, 3600);
  if (stall !== undefined) m.stallMs = stall * 1000;
  return Object.keys(m).length ? m : undefined;
}

function intFlag(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ModelsealError('USAGE', `--${name} must be an integer from ${min} to ${max}`);
  return Number(v);
}

/** Flags → client options. Credentials given by flag override config files and helpers. */
export function ociClientOptions(f: OciFlags, env: NodeJS.ProcessEnv = process.env): OciClientOptions {
  const o: OciClientOptions = { env };
  if (f.registryAuthFile) o.authFile = f.registryAuthFile;
  if (f.plainHttp || f.insecureHttp) o.plainHttp = true;
  if (f.caFile) o.caFile = f.caFile;
  if (f.registryUsername !== undefined) {
    const password = env.MODELSEAL_REGISTRY_PASSWORD;
    if (password === undefined) throw new ModelsealError('USAGE', '--registry-username needs MODELSEAL_REGISTRY_PASSWORD in the environment');
    o.credentials = { username: f.registryUsername, password };
  }
  const retries = intFlag(f.registryRetries, 'registry-retries', 0, 20);
  if (retries !== undefined) o.retries = retries;
  const ranges = intFlag(f.parallelRanges, 'parallel-ranges', 1, 32);
  if (ranges !== undefined && ranges > 1) {
    o.rangedMinBytes = RANGED_MIN_BYTES;
    o.rangeSlots = ranges;
  }
  const limit = intFlag(f.manifestLimit, 'manifest-limit', 1024, 64 * 1024 * 1024);
  if (limit !== undefined) o.maxManifestBytes = limit;
  const mirrors = mirrorSettings(f);
  if (mirrors) o.mirrors = mirrors;
  return o;
}
