import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';

/** What a registry login resolves to. `identityToken` is an OAuth2 refresh token (docker "identitytoken"). */
export type RegistryCredential = { username: string; password: string } | { identityToken: string; username?: string };

export interface CredentialLookup {
  /** `--registry-auth-file`: a docker config.json, a podman auth.json, or a Kubernetes `.dockerconfigjson` (file or its directory). */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Where a `kubernetes.io/dockerconfigjson` Secret is mounted by default. */
  mountedSecretDir?: string;
}

export const DEFAULT_SECRET_DIR = '/var/run/secrets/modelseal/registry';

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Candidate config files, highest priority first (oci-and-s3.md §2 "Credential sources"). */
export function configCandidates(l: CredentialLookup): string[] {
  const env = l.env ?? process.env;
  const home = l.homeDir ?? os.homedir();
  const out: string[] = [];
  if (l.authFile) out.push(l.authFile);
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.DOCKER_CONFIG) out.push(path.join(env.DOCKER_CONFIG, 'config.json'));
  out.push(path.join(home, '.docker', 'config.json'));
  out.push(path.join(l.mountedSecretDir ?? DEFAULT_SECRET_DIR, '.dockerconfigjson'));
  return out;
}

async function readConfig(file: string, explicit: boolean): Promise<DockerConfig | undefined> {
  let target = file;
  try {
    const st = await stat(file);
    if (st.isDirectory()) {
      // A mounted Secret is a directory holding `.dockerconfigjson`; a DOCKER_CONFIG dir holds config.json.
      for (const name of ['.dockerconfigjson', 'config.json']) {
        if (await stat(path.join(file, name)).then(() => true, () => false)) {
          target = path.join(file, name);
          break;
        }
      }
    }
    const text = await readFile(target, 'utf8');
    if (text.length > 4 * 1024 * 1024) throw new Error('larger than 4 MiB');
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return undefined;
    throw new ModelsealError('CONFIG_INVALID', `registry auth file ${target}: ${(err as Error).message}`, { cause: err });
  }
}

/** Registry key normalisation: `https://host:port/v1/` and `host:port` name the same registry. */
function hostOfKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k.toLowerCase();
}

function registryKeys(registry: string): string[] {
  const r = registry.toLowerCase();
  // Docker Hub's credentials live under the v1 index URL (oras-go, docker CLI).
  if (r === 'docker.io' || r === 'registry-1.docker.io' || r === 'index.docker.io') return ['index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [r];
}

function fromAuthEntry(e: NonNullable<DockerConfig['auths']>[string]): RegistryCredential | undefined {
  if (e.identitytoken) return { identityToken: e.identitytoken, ...(e.username ? { username: e.username } : {}) };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new ModelsealError('CONFIG_INVALID', 'registry auth entry "auth" is not base64 user:password');
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (e.username && e.password !== undefined) return { username: e.username, password: e.password };
  return undefined;
}

/** Runs `docker-credential-<name> get` (docker-credential-helpers protocol: server URL on stdin, JSON out). */
export async function runCredentialHelper(name: string, serverUrl: string, env?: NodeJS.ProcessEnv): Promise<RegistryCredential | undefined> {
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) throw new ModelsealError('CONFIG_INVALID', `bad credential helper name "${name}"`);
  const bin = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (b: Buffer) => { if (out.length < 1 << 20) out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { if (err.length < 4096) err += b.toString(); });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ModelsealError('AUTH_FAILED', `credential helper ${bin} could not run: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        // The helpers' documented miss message; anything else is a real failure.
        if (/credentials not found/i.test(out + err)) return resolve(undefined);
        return reject(new ModelsealError('AUTH_FAILED', `credential helper ${bin} failed (exit ${code}): ${(out + err).trim().split('\n')[0] ?? ''}`));
      }
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string };
        if (!j.Secret) return resolve(undefined);
        if (j.Username === '<token>') return resolve({ identityToken: j.Secret });
        resolve({ username: j.Username ?? '', password: j.Secret });
      } catch {
        reject(new ModelsealError('AUTH_FAILED', `credential helper ${bin} printed invalid JSON`));
      }
    });
    child.stdin.end(serverUrl);
  });
}

/** Finds credentials for `registry` (as written in the reference); undefined = anonymous. */
export async function lookupCredentials(registry: string, l: CredentialLookup = {}): Promise<RegistryCredential | undefined> {
  const keys = registryKeys(registry);
  const candidates = configCandidates(l);
  for (const [i, file] of candidates.entries()) {
    const cfg = await readConfig(file, i === 0 && l.authFile !== undefined);
    if (!cfg) continue;
    for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
      if (!keys.includes(hostOfKey(key)) || !entry || typeof entry !== 'object') continue;
      const c = fromAuthEntry(entry);
      if (c) return c;
    }
    for (const [key, helper] of Object.entries(cfg.credHelpers ?? {})) {
      if (keys.includes(hostOfKey(key))) {
        const c = await runCredentialHelper(helper, key, l.env);
        if (c) return c;
      }
    }
    if (cfg.credsStore) {
      const serverUrl = keys[0] === 'index.docker.io' ? 'https://index.docker.io/v1/' : registry;
      const c = await runCredentialHelper(cfg.credsStore, serverUrl, l.env);
      if (c) return c;
    }
  }
  return undefined;
}
