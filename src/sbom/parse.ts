import { ModelsealError } from '../errors.js';
import { decodeUtf8 } from '../formats/reader.js';
import { isSafeRelativePath } from '../formats/safetensors.js';
import { isPlainObject, parseStrictJson } from '../formats/strict-json.js';
import type { Resource } from '../model/types.js';
import { SPDX_CONTEXT } from './writers/spdx.js';
import { validateCycloneDx, validateSpdx3 } from './validate.js';

export const MAX_SBOM_BYTES = 64 << 20;
export const CYCLONEDX_PREDICATE = 'https://cyclonedx.org/bom';
export const SPDX_PREDICATE = 'https://spdx.dev/Document';

/** An SBOM that passed schema validation, reduced to what verification needs. */
export interface ParsedSbom {
  format: 'cyclonedx' | 'spdx3';
  specVersion: string;
  predicateType: string;
  modelName: string;
  /** Hex SHA-256 OMS root digest the SBOM declares for the model. */
  rootDigest: string;
  /** Model-relative path → hex SHA-256. */
  files: Map<string, string>;
  /** Composition / relationship marked complete: undeclared files are violations. */
  complete: boolean;
  document: unknown;
}

function invalid(message: string): ModelsealError {
  return new ModelsealError('SBOM_INVALID', message);
}

const HEX64 = /^[0-9a-f]{64}$/;

function addFile(files: Map<string, string>, name: unknown, digest: unknown): void {
  if (typeof name !== 'string' || !isSafeRelativePath(name)) throw invalid(`SBOM file name ${JSON.stringify(name)} is not a plain model-relative path`);
  if (typeof digest !== 'string' || !HEX64.test(digest.toLowerCase())) throw invalid(`SBOM file ${name} has no SHA-256 digest`);
  if (files.has(name)) throw invalid(`SBOM lists file ${name} twice`);
  files.set(name, digest.toLowerCase());
}

function sha256Of(hashes: unknown): string | undefined {
  if (!Array.isArray(hashes)) return undefined;
  const h = hashes.find((x) => isPlainObject(x) && x.alg === 'SHA-256');
  return isPlainObject(h) && typeof h.content === 'string' ? h.content.toLowerCase() : undefined;
}

function parseCycloneDx(doc: Record<string, unknown>): Omit<ParsedSbom, 'document' | 'format' | 'predicateType'> {
  const models = (doc.components as unknown[] | undefined ?? []).filter((c) => isPlainObject(c) && c.type === 'machine-learning-model') as Record<string, unknown>[];
  if (models.length !== 1) throw invalid(`CycloneDX SBOM must have exactly one top-level machine-learning-model component, found ${models.length}`);
  const model = models[0]!;
  const rootDigest = sha256Of(model.hashes);
  if (!rootDigest || !HEX64.test(rootDigest)) throw invalid('the model component has no SHA-256 hash (OMS root digest)');
  const files = new Map<string, string>();
  for (const c of (model.components as unknown[] | undefined) ?? []) {
    if (isPlainObject(c) && c.type === 'file') addFile(files, c.name, sha256Of(c.hashes));
  }
  const ref = model['bom-ref'];
  const complete = Array.isArray(doc.compositions) && doc.compositions.some((c) => isPlainObject(c) && c.aggregate === 'complete' && Array.isArray(c.assemblies) && c.assemblies.includes(ref));
  return { specVersion: String(doc.specVersion), modelName: String(model.name), rootDigest, files, complete };
}

function parseSpdx(doc: Record<string, unknown>): Omit<ParsedSbom, 'document' | 'format' | 'predicateType'> {
  const graph = doc['@graph'] as Record<string, unknown>[];
  const pkgs = graph.filter((e) => e.type === 'ai_AIPackage');
  if (pkgs.length !== 1) throw invalid(`SPDX SBOM must have exactly one ai_AIPackage, found ${pkgs.length}`);
  const pkg = pkgs[0]!;
  const hashOf = (e: Record<string, unknown>) => {
    const list = Array.isArray(e.verifiedUsing) ? e.verifiedUsing : [];
    const h = list.find((x) => isPlainObject(x) && x.algorithm === 'sha256');
    return isPlainObject(h) && typeof h.hashValue === 'string' ? h.hashValue.toLowerCase() : undefined;
  };
  const rootDigest = hashOf(pkg);
  if (!rootDigest || !HEX64.test(rootDigest)) throw invalid('the ai_AIPackage has no sha256 hash (OMS root digest)');
  const byId = new Map(graph.map((e) => [e.spdxId as string, e]));
  const files = new Map<string, string>();
  let complete = false;
  for (const rel of graph) {
    if (rel.type !== 'Relationship' || rel.relationshipType !== 'contains' || rel.from !== pkg.spdxId) continue;
    if (rel.completeness === 'complete') complete = true;
    for (const to of (rel.to as string[]) ?? []) {
      const f = byId.get(to);
      if (f?.type === 'software_File') addFile(files, f.name, hashOf(f));
    }
  }
  return { specVersion: '3.0.1', modelName: String(pkg.name), rootDigest, files, complete };
}

/** Parses (duplicate keys rejected), schema-validates and reduces an SBOM of either format. */
export async function parseSbom(bytes: Uint8Array): Promise<ParsedSbom> {
  if (bytes.length > MAX_SBOM_BYTES) throw invalid(`SBOM of ${bytes.length} bytes exceeds ${MAX_SBOM_BYTES}`);
  let text: string;
  let doc: unknown;
  try {
    text = decodeUtf8(bytes, 'sbom', 'SBOM');
    // Plain objects again: ajv and the library expect ordinary prototypes.
    doc = JSON.parse(JSON.stringify(parseStrictJson(text, 'sbom', 128)));
  } catch (err) {
    throw new ModelsealError('SBOM_INVALID', `SBOM is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(doc)) throw invalid('SBOM is not a JSON object');
  if (doc.bomFormat === 'CycloneDX') {
    await validateCycloneDx(text, String(doc.specVersion));
    return { format: 'cyclonedx', predicateType: CYCLONEDX_PREDICATE, document: doc, ...parseCycloneDx(doc) };
  }
  if (doc['@context'] === SPDX_CONTEXT) {
    validateSpdx3(doc);
    return { format: 'spdx3', predicateType: SPDX_PREDICATE, document: doc, ...parseSpdx(doc) };
  }
  throw invalid('neither a CycloneDX BOM (bomFormat) nor SPDX 3.0.1 JSON-LD (@context)');
}

export interface SbomFileReport {
  checked: number;
  changed: string[];
  missing: string[];
  extra: string[];
}

/** Compares declared files with hashed ones (an OMS `files`/sha256 manifest's resources). */
export function compareSbomFiles(sbom: ParsedSbom, actual: Resource[]): SbomFileReport {
  const seen = new Map(actual.map((r) => [r.name, r.digest.toLowerCase()]));
  const report: SbomFileReport = { checked: 0, changed: [], missing: [], extra: [] };
  for (const [name, digest] of sbom.files) {
    const got = seen.get(name);
    if (got === undefined) report.missing.push(name);
    else if (got !== digest) report.changed.push(name);
    else report.checked++;
  }
  if (sbom.complete) for (const name of seen.keys()) if (!sbom.files.has(name)) report.extra.push(name);
  return report;
}

/** Throws the code that matches the first kind of difference: changed, then missing, then extra. */
export function assertSbomFilesMatch(report: SbomFileReport): void {
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ` and ${xs.length - 5} more` : '');
  if (report.changed.length) throw new ModelsealError('DIGEST_MISMATCH', `file content differs from the SBOM: ${list(report.changed)}`, { details: { changed: report.changed } });
  if (report.missing.length) throw new ModelsealError('FILE_MISSING', `file listed in the SBOM is missing: ${list(report.missing)}`, { details: { missing: report.missing } });
  if (report.extra.length) throw new ModelsealError('FILE_UNSIGNED', `file not listed in the (complete) SBOM: ${list(report.extra)}`, { details: { extra: report.extra } });
}
