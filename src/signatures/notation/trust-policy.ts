import { X509Certificate } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { isPlainObject } from '../../formats/strict-json.js';
import { pemBlocks } from '../core/pem.js';
import type { NotationAuthority } from '../core/types.js';
import { parseTrustedIdentities } from './identities.js';
import { strictJsonObject } from './json.js';

/**
 * A Notation user's existing configuration: `trustpolicy.oci.json` (legacy name
 * `trustpolicy.json`) and the trust store directory `x509/{ca,signingAuthority,tsa}/<name>/`
 * (Notary Project trust-store-trust-policy.md), turned into Notation authorities.
 */
export interface NotationPolicyEntry {
  name: string;
  registryScopes: string[];
  authorities: NotationAuthority[];
}
export interface NotationConfig {
  source: string;
  policies: NotationPolicyEntry[];
}

const MAX_POLICY_BYTES = 1024 * 1024;
const MAX_CERT_FILE_BYTES = 1024 * 1024;
const STORE_TYPES = ['ca', 'signingAuthority', 'tsa'] as const;
type StoreType = (typeof STORE_TYPES)[number];
const STORE_NAME = /^[a-zA-Z0-9_.-]+$/;

function invalid(where: string, message: string): never {
  throw new ModelsealError('POLICY_INVALID', `${where}: ${message}`);
}

function stringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string' && s !== '')) invalid(where, 'must be a non-empty list of strings');
  return v as string[];
}

function onlyKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) invalid(where, `unknown key "${k}" (allowed: ${allowed.join(', ')})`);
}

/** Every certificate of one named store: each regular file is PEM (one or more certificates) or one DER certificate. */
async function loadStore(root: string, type: StoreType, name: string, where: string): Promise<X509Certificate[]> {
  const dir = path.join(root, 'x509', type, name);
  const files = await readdir(dir).catch((err: NodeJS.ErrnoException) => invalid(where, `trust store ${type}:${name} (${dir}) cannot be read (${err.code})`));
  const out: X509Certificate[] = [];
  for (const f of files.sort()) {
    const file = path.join(dir, f);
    const st = await lstat(file);
    if (!st.isFile()) invalid(where, `trust store ${type}:${name} holds ${f}, which is not a regular file`);
    if (st.size > MAX_CERT_FILE_BYTES) invalid(where, `trust store file ${file} is larger than ${MAX_CERT_FILE_BYTES} bytes`);
    const bytes = await readFile(file);
    const text = bytes.toString('latin1');
    const ders = text.includes('-----BEGIN') ? pemBlocks(text, file, 'POLICY_INVALID').filter((b) => b.label === 'CERTIFICATE').map((b) => b.der) : [bytes];
    if (ders.length === 0) invalid(where, `trust store file ${file} holds no certificate`);
    for (const der of ders) {
      try {
        out.push(new X509Certificate(der));
      } catch {
        invalid(where, `trust store file ${file} is not an X.509 certificate (PEM or DER)`);
      }
    }
  }
  if (out.length === 0) invalid(where, `trust store ${type}:${name} (${dir}) is empty`);
  return out;
}

async function policyEntry(v: unknown, i: number, file: string, trustStoreDir: string): Promise<NotationPolicyEntry> {
  const where = `${file}: trustPolicies[${i}]`;
  if (!isPlainObject(v)) invalid(where, 'must be an object');
  onlyKeys(v, ['name', 'registryScopes', 'signatureVerification', 'trustStores', 'trustedIdentities'], where);
  if (typeof v.name !== 'string' || v.name === '') invalid(where, 'name must be a non-empty string');
  const name = v.name;
  const registryScopes = stringList(v.registryScopes, `${where}.registryScopes`);
  if (registryScopes.includes('*') && registryScopes.length > 1) invalid(where, '"*" must be the only registry scope of its policy');
  const sv = v.signatureVerification;
  if (!isPlainObject(sv)) invalid(where, 'signatureVerification must be an object');
  onlyKeys(sv, ['level', 'override', 'verifyTimestamp'], `${where}.signatureVerification`);
  // audit and skip do not enforce who signed: a modelseal trust decision cannot rest on them.
  if (sv.level !== 'strict' && sv.level !== 'permissive') invalid(where, `level ${JSON.stringify(sv.level)} is not supported (strict or permissive; audit and skip do not enforce authenticity)`);
  if (sv.override !== undefined) invalid(where, 'signatureVerification.override is not supported: use level strict or permissive');
  if (sv.verifyTimestamp !== undefined && sv.verifyTimestamp !== 'always' && sv.verifyTimestamp !== 'afterCertExpiry') invalid(where, 'verifyTimestamp must be "always" or "afterCertExpiry"');
  const trustedIdentities = stringList(v.trustedIdentities, `${where}.trustedIdentities`);
  parseTrustedIdentities(trustedIdentities, where);

  const stores: Record<StoreType, X509Certificate[]> = { ca: [], signingAuthority: [], tsa: [] };
  for (const s of stringList(v.trustStores, `${where}.trustStores`)) {
    const m = /^([^:]+):(.+)$/.exec(s);
    if (!m || !(STORE_TYPES as readonly string[]).includes(m[1]!) || !STORE_NAME.test(m[2]!)) invalid(where, `trust store ${JSON.stringify(s)} is not <ca|signingAuthority|tsa>:<name>`);
    stores[m[1] as StoreType].push(...(await loadStore(trustStoreDir, m[1] as StoreType, m[2]!, where)));
  }
  const base = {
    kind: 'notation' as const,
    name: `notation:${name}`,
    trustedIdentities,
    level: sv.level as 'strict' | 'permissive',
    ...(stores.tsa.length ? { tsaRoots: stores.tsa } : {}),
    ...(sv.verifyTimestamp ? { verifyTimestamp: sv.verifyTimestamp as 'always' | 'afterCertExpiry' } : {}),
  };
  const authorities: NotationAuthority[] = [];
  if (stores.ca.length) authorities.push({ ...base, trustStore: stores.ca });
  if (stores.signingAuthority.length) authorities.push({ ...base, trustStore: stores.signingAuthority, signingAuthority: true });
  if (authorities.length === 0) invalid(where, 'names no ca or signingAuthority trust store');
  return { name, registryScopes, authorities };
}

export async function loadNotationConfig(policyFile: string, trustStoreDir: string): Promise<NotationConfig> {
  const file = path.resolve(policyFile);
  const st = await lstat(file).catch(() => invalid(file, 'does not exist'));
  if (st.size > MAX_POLICY_BYTES) invalid(file, `is larger than ${MAX_POLICY_BYTES} bytes`);
  let doc: Record<string, unknown>;
  try {
    doc = strictJsonObject(await readFile(file), 'Notation trust policy');
  } catch (err) {
    return invalid(file, (err as Error).message);
  }
  onlyKeys(doc, ['version', 'trustPolicies'], file);
  if (doc.version !== '1.0') invalid(file, 'version must be "1.0"');
  if (!Array.isArray(doc.trustPolicies) || doc.trustPolicies.length === 0) invalid(file, 'trustPolicies must be a non-empty list');
  const policies: NotationPolicyEntry[] = [];
  for (const [i, p] of (doc.trustPolicies as unknown[]).entries()) policies.push(await policyEntry(p, i, file, path.resolve(trustStoreDir)));
  const names = new Set<string>();
  const scopes = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name)) invalid(file, `two policies are named ${p.name}`);
    names.add(p.name);
    for (const s of p.registryScopes) {
      if (scopes.has(s)) invalid(file, `registry scope ${s} appears in more than one policy`);
      scopes.add(s);
    }
  }
  return { source: file, policies };
}

/** The authorities for an artefact `registry/repository`: the policy naming it exactly, else the `*` policy. */
export function notationAuthoritiesFor(config: NotationConfig, scope: string): NotationAuthority[] {
  const exact = config.policies.find((p) => p.registryScopes.includes(scope));
  const pick = exact ?? config.policies.find((p) => p.registryScopes.includes('*'));
  if (!pick) throw new ModelsealError('POLICY_VIOLATION', `no Notation trust policy in ${config.source} applies to ${scope}`);
  return pick.authorities;
}
