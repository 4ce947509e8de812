import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import type { Finding } from '../formats/finding.js';
import { analyzeModelFile, type AnalyzedFile } from '../formats/scan.js';
import { rootDigest } from '../model/digest.js';
import { serializeDirectory } from '../model/serialize.js';
import type { Manifest } from '../model/types.js';
import { VERSION } from '../version.js';
import { buildCycloneDx, type BaseModelRef, type CdxBom, type SbomInput } from './writers/cyclonedx.js';
import { collectModelFacts, type ModelFacts } from './facts.js';
import { buildSpdx3, type SpdxDocumentJson } from './writers/spdx.js';
import { validateCycloneDx, validateSpdx3 } from './validate.js';

export type SbomFormat = 'cyclonedx' | 'cyclonedx-1.7' | 'spdx3';
export const SBOM_FORMATS: readonly SbomFormat[] = ['cyclonedx', 'cyclonedx-1.7', 'spdx3'];

export interface GenerateOptions {
  format: SbomFormat;
  /** `REF@sha256:HEX` (or `REF@HEX`): the base model this one derives from. */
  baseModel?: string;
  /** Model-relative paths left out of the manifest (as for signing). */
  ignorePaths?: string[];
  allowSymlinks?: boolean;
  /** SPDX `software_downloadLocation` (default: a file: URI of the model directory). */
  downloadLocation?: string;
  supplier?: string;
  timestamp?: Date;
}

export interface GeneratedSbom {
  format: SbomFormat;
  document: CdxBom | SpdxDocumentJson;
  /** Pretty-printed JSON, already schema-validated. */
  json: string;
  manifest: Manifest;
  rootDigest: string;
  facts: ModelFacts;
  files: AnalyzedFile[];
  findings: Finding[];
}

export function parseBaseModel(spec: string): BaseModelRef {
  const m = /^(.+)@(?:sha256:)?([0-9a-fA-F]{64})$/.exec(spec);
  if (!m) throw new ModelsealError('USAGE', `--base-model must be REF@sha256:<64 hex digits>, not ${JSON.stringify(spec)}`);
  return { ref: m[1]!, digest: m[2]!.toLowerCase() };
}

/**
 * Hashes the model exactly as OMS signing does (files, SHA-256), parses and scans every file,
 * and writes one ML-BOM whose file components equal the manifest's resources.
 */
export async function generateSbom(modelPath: string, opts: GenerateOptions): Promise<GeneratedSbom> {
  const baseModel = opts.baseModel !== undefined ? parseBaseModel(opts.baseModel) : undefined;
  const st = await stat(modelPath).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read model path ${modelPath}: ${err.message}`);
  });
  const root = st.isFile() ? path.dirname(modelPath) : modelPath;
  const manifest = await serializeDirectory(modelPath, {
    method: 'files', hashType: 'sha256', allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: opts.ignorePaths ?? [],
  });
  const digest = rootDigest(manifest.resources);
  const files: AnalyzedFile[] = [];
  for (const r of manifest.resources) files.push(await analyzeModelFile(root, r.name));
  const facts = await collectModelFacts(root, manifest.modelName, files);
  const input: SbomInput = {
    facts, resources: manifest.resources, rootDigest: digest, files, toolVersion: VERSION,
    timestamp: opts.timestamp ?? new Date(), ...(baseModel ? { baseModel } : {}),
  };
  let document: CdxBom | SpdxDocumentJson;
  let json: string;
  if (opts.format === 'spdx3') {
    document = buildSpdx3(input, {
      downloadLocation: opts.downloadLocation ?? `file://${path.resolve(modelPath)}`,
      ...(opts.supplier ? { supplier: opts.supplier } : {}),
    });
    json = JSON.stringify(document, null, 2) + '\n';
    validateSpdx3(JSON.parse(json));
  } else {
    const spec = opts.format === 'cyclonedx-1.7' ? '1.7' : '1.6';
    document = buildCycloneDx(input, spec);
    json = JSON.stringify(document, null, 2) + '\n';
    // Never hand out a BOM we would reject ourselves.
    await validateCycloneDx(json, spec);
  }
  return { format: opts.format, document, json, manifest, rootDigest: digest, facts, files, findings: files.flatMap((f) => f.findings) };
}
