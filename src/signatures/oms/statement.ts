import { ModelsealError } from '../../errors.js';
import { isPlainObject } from '../../formats/strict-json.js';
import { rootDigest } from '../../model/digest.js';
import { parseShardName } from '../../model/names.js';
import type { HashAlgorithm, Manifest, Resource, SerializationMethod } from '../../model/types.js';
import { parseJsonBytes } from '../core/json-bytes.js';
import { LEGACY_PREDICATE_TYPE, OMS_PREDICATE_TYPE, STATEMENT_TYPE } from './payload.js';

/** The signed statement read back: the manifest in the order the bundle lists it (trap T1). */
export interface ParsedStatement {
  manifest: Manifest;
  /** Subject digest; absent for the legacy v0.2 predicate, which has no root. */
  rootDigest?: string;
  predicateType: string;
}

const DIGEST_HEX: Record<HashAlgorithm, RegExp> = {
  sha256: /^[0-9a-f]{64}$/,
  blake2b: /^[0-9a-f]{128}$/,
  // model_signing 1.1: 32-byte BLAKE3 (its default output length).
  blake3: /^[0-9a-f]{64}$/,
};

function bad(message: string): never {
  throw new ModelsealError('PAYLOAD_INVALID', `signed statement: ${message}`);
}

function field<T>(obj: Record<string, unknown>, key: string, check: (v: unknown) => v is T, expected: string, where: string): T {
  const v = obj[key];
  if (!check(v)) bad(`${where}.${key} must be ${expected}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isHashAlgorithm = (v: unknown): v is HashAlgorithm => typeof v === 'string' && Object.hasOwn(DIGEST_HEX, v);

/**
 * Parse the exact DSSE payload bytes (never a re-serialization: trap T9). Duplicate keys are
 * rejected, so no two readers of the same bytes can see different manifests. Unknown predicate
 * fields are ignored, as model_signing requires of verifiers.
 */
export function parseStatement(payload: Uint8Array): ParsedStatement {
  const { value: doc } = parseJsonBytes(payload, 'PAYLOAD_INVALID', 'signed statement');
  if (!isPlainObject(doc)) bad('payload is not a JSON object');
  if (doc._type !== STATEMENT_TYPE) bad(`_type is ${JSON.stringify(doc._type)}, expected ${STATEMENT_TYPE}`);
  const predicateType = doc.predicateType;
  const subjects = field(doc, 'subject', isArray, 'an array', 'statement');
  if (predicateType === OMS_PREDICATE_TYPE) return parseOms(doc, subjects);
  if (predicateType === LEGACY_PREDICATE_TYPE) return parseLegacy(subjects);
  return bad(`predicateType ${JSON.stringify(predicateType)} is not an OMS model signature (${OMS_PREDICATE_TYPE})`);
}

function subjectDigest(subject: unknown, where: string): { name: string; sha256: string } {
  if (!isPlainObject(subject)) bad(`${where} is not an object`);
  const name = field(subject, 'name', isNonEmptyString, 'a non-empty string', where);
  const digest = field(subject, 'digest', isPlainObject, 'an object', where);
  const sha256 = field(digest, 'sha256', isString, 'a string', `${where}.digest`);
  if (!DIGEST_HEX.sha256.test(sha256)) bad(`${where}.digest.sha256 is not 64 lowercase hex digits`);
  return { name, sha256 };
}

function parseOms(doc: Record<string, unknown>, subjects: unknown[]): ParsedStatement {
  if (subjects.length !== 1) bad(`has ${subjects.length} subjects; an OMS v1.0 statement has exactly one`);
  const subject = subjectDigest(subjects[0], 'subject[0]');
  const predicate = field(doc, 'predicate', isPlainObject, 'an object', 'statement');
  const ser = field(predicate, 'serialization', isPlainObject, 'an object', 'predicate');
  const method = field(ser, 'method', isString, 'a string', 'serialization');
  if (method !== 'files' && method !== 'shards') bad(`serialization.method ${JSON.stringify(method)} is not files or shards`);
  const hashType = field(ser, 'hash_type', isString, 'a string', 'serialization');
  if (!isHashAlgorithm(hashType)) return bad(`serialization.hash_type ${JSON.stringify(hashType)} is not supported (sha256, blake2b, blake3)`);
  const allowSymlinks = ser.allow_symlinks ?? false;
  if (typeof allowSymlinks !== 'boolean') bad('serialization.allow_symlinks must be a boolean');
  const ignorePaths = ser.ignore_paths ?? [];
  if (!isArray(ignorePaths) || !ignorePaths.every(isString)) bad('serialization.ignore_paths must be an array of strings');
  const shardSize = method === 'shards' ? readShardSize(ser.shard_size) : undefined;

  const list = field(predicate, 'resources', isArray, 'an array', 'predicate');
  if (list.length === 0) bad('predicate.resources is empty: nothing is signed');
  const resources = list.map((r, i) => readResource(r, i, method, hashType, shardSize));
  rejectDuplicateNames(resources);

  const root = rootDigest(resources);
  if (root !== subject.sha256) {
    throw new ModelsealError(
      'MANIFEST_INCONSISTENT',
      `manifest is inconsistent: the resources hash to root ${root}, the subject says ${subject.sha256}`,
      { details: { computed: root, subject: subject.sha256 } },
    );
  }
  const manifest: Manifest = {
    modelName: subject.name,
    serialization: { method, hashType, allowSymlinks, ignorePaths, ...(shardSize === undefined ? {} : { shardSize }) },
    resources,
  };
  return { manifest, rootDigest: root, predicateType: OMS_PREDICATE_TYPE };
}

/** protobuf `Struct` turns integers into floats (`1000000000.0`, trap T3): accept only integral values. */
function readShardSize(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    bad(`serialization.shard_size must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function readResource(
  r: unknown,
  i: number,
  method: SerializationMethod,
  hashType: HashAlgorithm,
  shardSize: number | undefined,
): Resource {
  const where = `resources[${i}]`;
  if (!isPlainObject(r)) bad(`${where} is not an object`);
  const name = field(r, 'name', isNonEmptyString, 'a non-empty string', where);
  const algorithm = field(r, 'algorithm', isString, 'a string', where);
  const digest = field(r, 'digest', isString, 'a string', where);
  // Python writes `sha256-sharded-<shard_size>` for shards, the spec plain `sha256` (trap T2).
  const allowed = algorithm === hashType || (method === 'shards' && algorithm === `${hashType}-sharded-${shardSize}`);
  if (!allowed) bad(`${where} (${JSON.stringify(name)}) has algorithm ${JSON.stringify(algorithm)}, expected ${hashType}`);
  if (!DIGEST_HEX[hashType].test(digest)) bad(`${where} (${JSON.stringify(name)}) digest is not a lowercase hex ${hashType} digest`);
  if (method === 'shards') parseShardName(name);
  return { name, algorithm, digest };
}

function rejectDuplicateNames(resources: Resource[]): void {
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.name)) bad(`resource ${JSON.stringify(r.name)} is listed twice`);
    seen.add(r.name);
  }
}

/** v0.2 `Digests/v0.1`: every file is a subject with its SHA-256; the predicate carries nothing. */
function parseLegacy(subjects: unknown[]): ParsedStatement {
  if (subjects.length === 0) bad('has no subjects: nothing is signed');
  const resources = subjects.map((s, i) => {
    const { name, sha256 } = subjectDigest(s, `subject[${i}]`);
    const annotations = isPlainObject(s) ? s.annotations : undefined;
    const actual = isPlainObject(annotations) ? annotations.actual_hash_algorithm : undefined;
    if (actual !== undefined && actual !== 'file-sha256') bad(`subject[${i}] has hash algorithm ${JSON.stringify(actual)}, only file-sha256 is supported`);
    return { name, algorithm: 'sha256', digest: sha256 };
  });
  rejectDuplicateNames(resources);
  const manifest: Manifest = {
    modelName: '',
    serialization: { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: [] },
    resources,
  };
  return { manifest, predicateType: LEGACY_PREDICATE_TYPE };
}
