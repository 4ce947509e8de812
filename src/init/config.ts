import { isAzureReference } from '../stores/azure/url.js';
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { ModelsealError } from '../errors.js';
import { INIT_DEFAULT_TIMEOUT_MS, parseDuration } from '../placement/run-control.js';

/**
 * Settings of `modelseal init`, from three layers: a mounted config file, then MODELSEAL_* env,
 * then flags (each overrides the one before). Everything is a path or a plain value: credentials
 * are never settings, only files the sources read (docker config secret, AWS web-identity token).
 */
export type InitMode = 'pull' | 'verify-in-place';

export interface InitConfig {
  /** Model reference (`oci://…`, `s3://…`, or a directory). */
  source: string;
  mode: InitMode;
  /** Pull mode: where the verified model is placed (inside the shared volume). */
  into: string;
  /** Verify-in-place mode: the directory already holding the model (default: `source` when it is a path). */
  path?: string;
  /** Default: `<into>.receipt.json`, beside the model, outside the verified tree. */
  receipt?: string;
  /** Detached signature for a model directory (default `<dir>/model.sig`). */
  signature?: string;
  policy?: string;
  trust: TrustSettings;
  ignoreUnsignedFiles: boolean;
  concurrency?: number;
  /** Whole-run deadline (default INIT_DEFAULT_TIMEOUT_MS: a pod never waits in Init forever). */
  timeoutMs: number;
  /** Minimum-progress window for a transfer (default: run-control's). */
  stallMs?: number;
  registry: RegistrySettings;
  s3: S3Settings;
  pod: { name?: string; namespace?: string };
}

export interface TrustSettings {
  publicKey?: string;
  certChain: string[];
  identity?: string;
  identityRegexp?: string;
  identityProvider?: string;
  trustRoot?: string;
}

export interface RegistrySettings {
  /** docker config.json / mounted `.dockerconfigjson` (a file path; the secret stays in the file). */
  authFile?: string;
  /** Extra CA bundle (PEM file) for TLS to the registry or S3 endpoint. */
  caFile?: string;
  /** Allow plain HTTP to the registry (loopback and test registries only). */
  plainHttp: boolean;
}

/** S3 endpoint shape; credentials come from the AWS SDK chain (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE). */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
}

export const DEFAULT_INTO = '/models/model';
export const DEFAULT_CONFIG_PATH = '/etc/modelseal/config.yaml';

/** One layer of settings before merging: every field optional, all already type-checked. */
export type InitSettings = Partial<{
  source: string;
  mode: InitMode;
  into: string;
  path: string;
  receipt: string;
  signature: string;
  policy: string;
  publicKey: string;
  certChain: string[];
  identity: string;
  identityRegexp: string;
  identityProvider: string;
  trustRoot: string;
  ignoreUnsignedFiles: boolean;
  concurrency: number;
  timeout: number;
  stallTimeout: number;
  registryAuthFile: string;
  caFile: string;
  plainHttp: boolean;
  s3Endpoint: string;
  s3Region: string;
  s3ForcePathStyle: boolean;
}>;
type Key = keyof InitSettings;
type Kind = 'string' | 'list' | 'bool' | 'int' | 'mode' | 'duration';

/** The single table of settings: config-file key, env name, type. */
const FIELDS: Record<Key, { env: string; kind: Kind }> = {
  source: { env: 'MODELSEAL_SOURCE', kind: 'string' },
  mode: { env: 'MODELSEAL_MODE', kind: 'mode' },
  into: { env: 'MODELSEAL_INTO', kind: 'string' },
  path: { env: 'MODELSEAL_PATH', kind: 'string' },
  receipt: { env: 'MODELSEAL_RECEIPT', kind: 'string' },
  signature: { env: 'MODELSEAL_SIGNATURE', kind: 'string' },
  policy: { env: 'MODELSEAL_POLICY', kind: 'string' },
  publicKey: { env: 'MODELSEAL_PUBLIC_KEY', kind: 'string' },
  certChain: { env: 'MODELSEAL_CERT_CHAIN', kind: 'list' },
  identity: { env: 'MODELSEAL_IDENTITY', kind: 'string' },
  identityRegexp: { env: 'MODELSEAL_IDENTITY_REGEXP', kind: 'string' },
  identityProvider: { env: 'MODELSEAL_IDENTITY_PROVIDER', kind: 'string' },
  trustRoot: { env: 'MODELSEAL_TRUST_ROOT', kind: 'string' },
  ignoreUnsignedFiles: { env: 'MODELSEAL_IGNORE_UNSIGNED_FILES', kind: 'bool' },
  concurrency: { env: 'MODELSEAL_CONCURRENCY', kind: 'int' },
  timeout: { env: 'MODELSEAL_TIMEOUT', kind: 'duration' },
  stallTimeout: { env: 'MODELSEAL_STALL_TIMEOUT', kind: 'duration' },
  registryAuthFile: { env: 'MODELSEAL_REGISTRY_AUTH_FILE', kind: 'string' },
  caFile: { env: 'MODELSEAL_CA_FILE', kind: 'string' },
  plainHttp: { env: 'MODELSEAL_PLAIN_HTTP', kind: 'bool' },
  s3Endpoint: { env: 'MODELSEAL_S3_ENDPOINT', kind: 'string' },
  s3Region: { env: 'MODELSEAL_S3_REGION', kind: 'string' },
  s3ForcePathStyle: { env: 'MODELSEAL_S3_FORCE_PATH_STYLE', kind: 'bool' },
};

/** MODELSEAL_* variables that are not settings of `init` (read elsewhere). */
const OTHER_ENV = new Set(['MODELSEAL_CONFIG', 'MODELSEAL_LOG_LEVEL']);
/** Secrets other commands accept from env; a pod spec would leak them, so init refuses them. */
const SECRET_ENV = new Set(['MODELSEAL_REGISTRY_PASSWORD']);

const invalid = (msg: string) => new ModelsealError('CONFIG_INVALID', msg);

function coerce(kind: Kind, raw: unknown, where: string): InitSettings[Key] {
  switch (kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw invalid(`${where}: expected a non-empty string`);
      return raw;
    case 'list': {
      // Env and flags give one comma-separated string; the file may give a YAML list.
      const items = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw;
      if (!Array.isArray(items) || items.length === 0 || !items.every((s) => typeof s === 'string' && s !== '')) {
        throw invalid(`${where}: expected a list of file paths`);
      }
      return items as string[];
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0' || raw === '') return false;
      throw invalid(`${where}: expected true or false`);
    case 'int': {
      const n = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > 256) throw invalid(`${where}: expected an integer from 1 to 256`);
      return n;
    }
    case 'duration':
      if (typeof raw === 'number') return parseDuration(String(raw), where);
      if (typeof raw !== 'string') throw invalid(`${where}: expected a duration such as 90s, 30m or 2h`);
      try {
        return parseDuration(raw, where);
      } catch (err) {
        throw invalid((err as Error).message);
      }
    case 'mode':
      if (raw !== 'pull' && raw !== 'verify-in-place') throw invalid(`${where}: expected pull or verify-in-place`);
      return raw;
  }
}

/** Settings from MODELSEAL_* env. An unknown MODELSEAL_* name is an error: a typo must not silently drop a check. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): InitSettings {
  const byEnv = new Map(Object.entries(FIELDS).map(([k, f]) => [f.env, k as Key]));
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('MODELSEAL_') || value === undefined || OTHER_ENV.has(name)) continue;
    if (SECRET_ENV.has(name)) {
      throw invalid(`${name} is not accepted by init: mount credentials as a file (registry: a dockerconfigjson Secret; S3: a web-identity token)`);
    }
    const key = byEnv.get(name);
    if (!key) throw invalid(`unknown environment variable ${name} (known: ${[...byEnv.keys()].join(', ')})`);
    if (value === '' && FIELDS[key].kind !== 'bool') continue;
    out[key] = coerce(FIELDS[key].kind, value, name);
  }
  return out as InitSettings;
}

/** Settings from a config file's text (YAML or JSON). Unknown keys and wrong types name their line. */
export function settingsFromFile(text: string, file: string): InitSettings {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: YamlNode | null | undefined) => {
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    return pos ? `${file}:${pos.line}` : file;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw invalid(`${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`);
  }
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw invalid(`${at(doc.contents)}: the config must be a mapping of settings`);
  const out: Record<string, unknown> = {};
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as YamlNode | null;
    const name = isScalar(keyNode) ? String(keyNode.value) : '';
    if (!(name in FIELDS)) throw invalid(`${at(keyNode)}: unknown setting ${JSON.stringify(name)} (known: ${Object.keys(FIELDS).join(', ')})`);
    const valueNode = pair.value as YamlNode | null;
    const value: unknown = valueNode && 'toJSON' in valueNode ? (valueNode as { toJSON(): unknown }).toJSON() : null;
    out[name] = coerce(FIELDS[name as Key].kind, value, `${at(valueNode ?? keyNode)}: ${name}`);
  }
  return out as InitSettings;
}

export async function readConfigFile(file: string): Promise<InitSettings> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw invalid(`cannot read config file ${file}: ${err.code ?? err.message}`);
  });
  return settingsFromFile(text, file);
}

/** Validate flag values (commander gives strings) with the same rules as env. */
export function settingsFromFlags(flags: Record<string, unknown>): InitSettings {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (!(key in FIELDS) || value === undefined) continue;
    const flag = '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    out[key] = coerce(FIELDS[key as Key].kind, Array.isArray(value) ? value.join(',') : value, flag);
  }
  return out as InitSettings;
}

/** Merge layers (later wins) and check the combination. */
export function resolveInitConfig(layers: InitSettings[], env: NodeJS.ProcessEnv): InitConfig {
  const s: InitSettings = Object.assign({}, ...layers);
  const mode = s.mode ?? 'pull';
  // verify-in-place of a mounted directory: the directory is the source (its model.sig beside the files).
  if (!s.source && mode === 'verify-in-place' && s.path) s.source = s.path;
  if (!s.source) throw invalid('no model source: set MODELSEAL_SOURCE, --source, or `source:` in the config file');
  const isRemote = /^(oci|s3|az):\/\//.test(s.source) || isAzureReference(s.source);
  let inPlacePath: string | undefined;
  if (mode === 'verify-in-place') {
    inPlacePath = s.path ?? (isRemote ? undefined : s.source);
    if (!inPlacePath) throw invalid('verify-in-place needs the mounted model directory: set MODELSEAL_PATH (or --path)');
  } else if (s.path) {
    throw invalid('MODELSEAL_PATH is only for verify-in-place mode; pull mode places the model at MODELSEAL_INTO');
  }
  const trustFlags = s.publicKey ?? s.certChain ?? s.identity ?? s.identityRegexp ?? s.trustRoot ?? s.identityProvider;
  if (s.policy && trustFlags !== undefined) throw invalid('give either a policy or trust flags (public key, cert chain, identity), not both');
  if (!s.policy && trustFlags === undefined) {
    throw invalid('no trust configured: set MODELSEAL_POLICY, or MODELSEAL_PUBLIC_KEY / MODELSEAL_CERT_CHAIN / MODELSEAL_IDENTITY');
  }
  return {
    source: s.source,
    mode,
    into: s.into ?? DEFAULT_INTO,
    ...(inPlacePath ? { path: inPlacePath } : {}),
    ...(s.receipt ? { receipt: s.receipt } : {}),
    ...(s.signature ? { signature: s.signature } : {}),
    ...(s.policy ? { policy: s.policy } : {}),
    trust: {
      certChain: s.certChain ?? [],
      ...(s.publicKey ? { publicKey: s.publicKey } : {}),
      ...(s.identity ? { identity: s.identity } : {}),
      ...(s.identityRegexp ? { identityRegexp: s.identityRegexp } : {}),
      ...(s.identityProvider ? { identityProvider: s.identityProvider } : {}),
      ...(s.trustRoot ? { trustRoot: s.trustRoot } : {}),
    },
    ignoreUnsignedFiles: s.ignoreUnsignedFiles ?? false,
    ...(s.concurrency ? { concurrency: s.concurrency } : {}),
    timeoutMs: s.timeout ?? INIT_DEFAULT_TIMEOUT_MS,
    ...(s.stallTimeout ? { stallMs: s.stallTimeout } : {}),
    registry: {
      ...(s.registryAuthFile ? { authFile: s.registryAuthFile } : {}),
      ...(s.caFile ? { caFile: s.caFile } : {}),
      plainHttp: s.plainHttp ?? false,
    },
    s3: {
      ...(s.s3Endpoint ? { endpoint: s.s3Endpoint } : {}),
      ...(s.s3Region ? { region: s.s3Region } : {}),
      forcePathStyle: s.s3ForcePathStyle ?? false,
    },
    // Downward API (fieldRef metadata.name / metadata.namespace).
    pod: {
      ...(env.POD_NAME ? { name: env.POD_NAME } : {}),
      ...(env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}),
    },
  };
}

/**
 * The whole load: the config file is `--config`, else MODELSEAL_CONFIG, else
 * /etc/modelseal/config.yaml when it exists (the conventional ConfigMap mount).
 */
export async function loadInitConfig(
  flags: Record<string, unknown> & { config?: string },
  env: NodeJS.ProcessEnv,
  exists: (p: string) => boolean,
): Promise<InitConfig> {
  const explicit = flags.config ?? env.MODELSEAL_CONFIG;
  const file = explicit ?? (exists(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  const fromFile = file ? await readConfigFile(file) : {};
  return resolveInitConfig([fromFile, settingsFromEnv(env), settingsFromFlags(flags)], env);
}
