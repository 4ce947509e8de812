import { readFileSync } from 'node:fs';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ModelsealError } from '../errors.js';
import { isPlainObject } from '../formats/strict-json.js';
import { SPDX_CONTEXT } from './writers/spdx.js';

function invalid(message: string, details: Record<string, unknown> = {}): ModelsealError {
  return new ModelsealError('SBOM_INVALID', message, { details });
}

function ajvSummary(errors: unknown): string {
  const list = Array.isArray(errors) ? (errors as { instancePath?: string; message?: string }[]) : [];
  return list.slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim()).join('; ');
}

/** CycloneDX 1.6/1.7 JSON through the library's strict validator (ajv, no remote schemas). */
export async function validateCycloneDx(json: string, specVersion: string): Promise<void> {
  const version = specVersion === '1.6' ? Spec.Version.v1dot6 : specVersion === '1.7' ? Spec.Version.v1dot7 : undefined;
  if (!version) throw invalid(`CycloneDX specVersion ${JSON.stringify(specVersion)} is not supported (1.6 or 1.7)`);
  const errors = await new Validation.JsonStrictValidator(version).validate(json);
  if (errors !== null) throw invalid(`CycloneDX ${specVersion} schema validation failed: ${ajvSummary(errors)}`, { errors });
}

let spdxValidator: ValidateFunction | undefined;

/** The vendored SPDX 3.0.1 schema (schemas/spdx-3.0.1, see PROVENANCE.md); compiled once (~1 s). */
function spdxSchemaValidator(): ValidateFunction {
  if (!spdxValidator) {
    const schema = JSON.parse(readFileSync(new URL('../../schemas/spdx-3.0.1/spdx-json-schema.json', import.meta.url), 'utf8')) as object;
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    // ajv-formats is CommonJS with a default export; NodeNext sees the module object.
    const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    spdxValidator = ajv.compile(schema);
  }
  return spdxValidator;
}

const REQUIRED: Record<string, string[]> = {
  // SHACL minCount rules the JSON schema does not enforce.
  ai_AIPackage: ['releaseTime', 'suppliedBy', 'software_downloadLocation', 'software_packageVersion', 'software_primaryPurpose'],
  dataset_DatasetPackage: ['builtTime', 'originatedBy', 'releaseTime', 'software_downloadLocation', 'software_primaryPurpose', 'dataset_datasetType'],
};
const REFERENCE_PROPS = ['from', 'to', 'element', 'rootElement', 'subject', 'suppliedBy', 'originatedBy', 'createdBy', 'createdUsing'];
/** Named individuals that stand where an Element IRI is expected. */
const INDIVIDUALS = new Set(['NoAssertionElement', 'NoneElement', 'SpdxOrganization', 'NoAssertionLicense', 'NoneLicense']);

/** SPDX 3.0.1 JSON-LD: schema, AI/Dataset required fields, and referential integrity. */
export function validateSpdx3(doc: unknown): void {
  if (!isPlainObject(doc) || doc['@context'] !== SPDX_CONTEXT || !Array.isArray(doc['@graph'])) {
    throw invalid(`SPDX document must be JSON-LD with @context ${SPDX_CONTEXT} and an @graph`);
  }
  const validate = spdxSchemaValidator();
  if (!validate(doc)) throw invalid(`SPDX 3.0.1 schema validation failed: ${ajvSummary(validate.errors)}`, { errors: validate.errors });
  const graph = doc['@graph'] as Record<string, unknown>[];
  const ids = new Set<string>();
  for (const e of graph) {
    const key = (e.spdxId ?? e['@id']) as string | undefined;
    if (key === undefined) continue;
    if (ids.has(key)) throw invalid(`SPDX element ${key} is defined twice`);
    ids.add(key);
  }
  for (const e of graph) {
    const type = e.type as string;
    for (const p of REQUIRED[type] ?? []) {
      const v = e[p];
      if (v === undefined || (Array.isArray(v) && v.length === 0)) throw invalid(`SPDX ${type} ${String(e.spdxId)} lacks required ${p}`);
    }
    const refs = [...REFERENCE_PROPS.flatMap((p) => (Array.isArray(e[p]) ? (e[p] as unknown[]) : e[p] === undefined ? [] : [e[p]])),
      ...(typeof e.creationInfo === 'string' ? [e.creationInfo] : [])];
    for (const r of refs) {
      if (typeof r === 'string' && !ids.has(r) && !INDIVIDUALS.has(r)) throw invalid(`SPDX ${type} ${String(e.spdxId ?? e['@id'])} refers to ${r}, which is not in the document`);
    }
  }
}
