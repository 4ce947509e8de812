import { readFile } from 'node:fs/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import type { TransparencyLogEntry } from '@sigstore/bundle';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { ModelsealError } from '../../errors.js';

/**
 * Sigstore trust material from a trusted_root.json or a ClientTrustConfig, validated by us first:
 * @sigstore/verify treats a log key without `validFor.start` as valid since 1970 (pitfall 8,
 * conformance `trust-root-tlog-missing-validity-start_fail`), which would let a retired or
 * not-yet-trusted log key vouch for any time.
 */

const TRUSTED_ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\+json;version=0\.1|\.v0\.[12]\+json)$/;
const CLIENT_TRUST_CONFIG_PREFIX = 'application/vnd.dev.sigstore.clienttrustconfig';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The trustedRoot JSON object inside either accepted document, validated and in the one shape
 * the rest of the code reads. Both documents are protobuf JSON, so they are read as a protobuf
 * JSON parser reads them: `null` means the field is absent, field names may be lowerCamelCase or
 * the proto's snake_case, and unknown fields are ignored (newer producers add fields).
 */
export function trustedRootJson(doc: unknown): Record<string, unknown> {
  let root = asObject(protoJson(doc, 'trusted root'), 'trusted root');
  if (typeof root.mediaType === 'string' && root.mediaType.startsWith(CLIENT_TRUST_CONFIG_PREFIX)) {
    root = asObject(root.trustedRoot, 'ClientTrustConfig trustedRoot');
  }
  if (typeof root.mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(root.mediaType)) {
    throw invalid(`unsupported mediaType ${JSON.stringify(root.mediaType)}`);
  }
  validateLogs(root.tlogs, 'tlogs');
  validateLogs(root.ctlogs, 'ctlogs');
  validateAuthorities(root.certificateAuthorities, 'certificateAuthorities');
  validateAuthorities(root.timestampAuthorities, 'timestampAuthorities');
  return root;
}

/** Parse and validate; throws CONFIG_INVALID with the offending field. */
export function parseTrustedRoot(doc: unknown): TrustedRoot {
  return TrustedRoot.fromJSON(trustedRootJson(doc));
}

const cache = new WeakMap<object, TrustMaterial>();

/** Trust material for @sigstore/verify, cached per parsed document (policies verify many bundles). */
export function trustMaterialFor(doc: unknown): TrustMaterial {
  if (typeof doc === 'object' && doc !== null) {
    const hit = cache.get(doc);
    if (hit) return hit;
  }
  let tm: TrustMaterial;
  try {
    tm = toTrustMaterial(parseTrustedRoot(doc));
  } catch (err) {
    if (err instanceof ModelsealError) throw err;
    throw invalid(`unusable key or certificate: ${(err as Error).message}`, err);
  }
  if (typeof doc === 'object' && doc !== null) cache.set(doc, tm);
  return tm;
}

// Checkpoint signature line: "— <name> <base64(keyHint4 ‖ signature)>" (C2SP signed-note).
const SIGNATURE_LINE = /^\u2014 (\S+) (\S+)$/gm;
// Pitfall 6: names end up in a substring test inside sigstore-js; keep them to plain host/path characters.
const SAFE_NAME = /^[\w.:/-]+$/;

/**
 * sigstore-js accepts a checkpoint signature only when the tlog's `baseUrl` contains the
 * signature's name (pitfall 5): a private Rekor reached at https://rekor.internal:8443 that signs
 * as "rekor.example - 123" fails with "invalid checkpoint signature". The name is not what makes
 * the checkpoint trustworthy — the key hint and the signature under that log's trusted key are —
 * so for the log whose ID the entry names we add the checkpoint's own name to the copy of its
 * baseURL used for this bundle, after checking that the name is the note's origin.
 */
export function withCheckpointNames(tm: TrustMaterial, entries: readonly TransparencyLogEntry[]): TrustMaterial {
  let tlogs = tm.tlogs;
  for (const entry of entries) {
    const envelope = entry.inclusionProof?.checkpoint?.envelope;
    if (!envelope) continue;
    const split = envelope.indexOf('\n\n');
    if (split < 0) continue;
    const origin = envelope.slice(0, envelope.indexOf('\n'));
    for (const m of envelope.slice(split + 2).matchAll(SIGNATURE_LINE)) {
      const [, name, blob] = m as unknown as [string, string, string];
      if (!SAFE_NAME.test(name) || !(origin === name || origin.startsWith(`${name} `))) continue;
      const hint = Buffer.from(blob, 'base64').subarray(0, 4);
      const i = tlogs.findIndex((log) => log.logID.equals(entry.logId.keyId) && log.logID.subarray(0, 4).equals(hint) && !log.baseURL.includes(name));
      if (i < 0) continue;
      tlogs = tlogs.map((log, j) => (j === i ? { ...log, baseURL: `${log.baseURL} ${name}` } : log));
    }
  }
  return tlogs === tm.tlogs ? tm : { ...tm, tlogs };
}

function validateLogs(value: unknown, field: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw invalid(`${field} is not an array`);
  value.forEach((raw, i) => {
    const where = `${field}[${i}]`;
    const log = asObject(raw, where);
    if (typeof log.baseUrl !== 'string' || log.baseUrl === '') throw invalid(`${where}.baseUrl is missing`);
    const key = asObject(log.publicKey, `${where}.publicKey`);
    requireBase64(key.rawBytes, `${where}.publicKey.rawBytes`);
    if (typeof key.keyDetails !== 'string') throw invalid(`${where}.publicKey.keyDetails is missing`);
    const validFor = asObject(key.validFor, `${where}.publicKey.validFor`);
    validateRange(validFor, `${where}.publicKey.validFor`, true);
    requireBase64(asObject(log.logId, `${where}.logId`).keyId, `${where}.logId.keyId`);
    if (log.checkpointKeyId !== undefined) requireBase64(asObject(log.checkpointKeyId, `${where}.checkpointKeyId`).keyId, `${where}.checkpointKeyId.keyId`);
  });
}

function validateAuthorities(value: unknown, field: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw invalid(`${field} is not an array`);
  value.forEach((raw, i) => {
    const where = `${field}[${i}]`;
    const ca = asObject(raw, where);
    const certs = asObject(ca.certChain, `${where}.certChain`).certificates;
    if (!Array.isArray(certs) || certs.length === 0) throw invalid(`${where}.certChain.certificates is empty`);
    certs.forEach((c, j) => requireBase64(asObject(c, `${where}.certChain.certificates[${j}]`).rawBytes, `${where}.certChain.certificates[${j}].rawBytes`));
    // A CA's certificates carry their own validity; the root's range only narrows it.
    if (ca.validFor !== undefined) validateRange(asObject(ca.validFor, `${where}.validFor`), `${where}.validFor`, false);
  });
}

function validateRange(range: Record<string, unknown>, where: string, startRequired: boolean): void {
  const start = range.start === undefined ? undefined : timestamp(range.start, `${where}.start`);
  if (start === undefined && startRequired) throw invalid(`${where}.start is missing`);
  const end = range.end === undefined ? undefined : timestamp(range.end, `${where}.end`);
  // Sigstore validity windows include both ends (sigstore-js and sigstore-go compare with <= and >=):
  // a window that starts and ends at the same instant is valid for exactly that instant.
  if (start !== undefined && end !== undefined && end < start) throw invalid(`${where} ends before it starts`);
}

/**
 * protobuf JSON → the lowerCamelCase, null-free form protobuf-specs' `fromJSON` and our checks
 * read. A field given in both spellings is refused, as protojson parsers refuse it (two readers
 * must not pick different values). Lists may not hold `null` (protojson rejects it too).
 */
export function protoJson(value: unknown, where: string): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (v === null) throw invalid(`${where}[${i}] is null`);
      return protoJson(v, `${where}[${i}]`);
    });
  }
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null) continue;
    const name = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (Object.hasOwn(out, name)) throw invalid(`${where} spells field ${name} twice`);
    // defineProperty: a `__proto__` key stays data, never a prototype.
    Object.defineProperty(out, name, { value: protoJson(v, `${where}.${name}`), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function timestamp(value: unknown, where: string): number {
  const t = typeof value === 'string' && RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw invalid(`${where} is not an RFC 3339 time`);
  return t;
}

function requireBase64(value: unknown, where: string): void {
  if (typeof value !== 'string' || !BASE64.test(value)) throw invalid(`${where} is not base64`);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} is not an object`);
  return value as Record<string, unknown>;
}

function invalid(msg: string, cause?: unknown): ModelsealError {
  return new ModelsealError('CONFIG_INVALID', `Sigstore trusted root: ${msg}`, cause === undefined ? {} : { cause });
}

/** Read a trusted_root.json or ClientTrustConfig file (e.g. `--trusted-root`) and validate it. */
export async function readTrustedRootFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelsealError('CONFIG_INVALID', `cannot read Sigstore trusted root ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ModelsealError('CONFIG_INVALID', `Sigstore trusted root ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  trustedRootJson(doc);
  return doc as Record<string, unknown>;
}
