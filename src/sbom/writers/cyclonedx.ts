import { randomUUID } from 'node:crypto';
import { SPDX } from '@cyclonedx/cyclonedx-library';
import type { Finding } from '../../formats/finding.js';
import type { AnalyzedFile } from '../../formats/scan.js';
import type { Resource } from '../../model/types.js';
import { humanCount, type ModelFacts } from '../facts.js';

/**
 * CycloneDX ML-BOM as typed plain JSON: the library's models drop modelCard, data and pedigree,
 * so it is used only to validate (src/sbom/validate.ts).
 */

export type CdxSpecVersion = '1.6' | '1.7';
export const MODEL_REF = 'model';
export const FILE_REF_PREFIX = 'file:';

export interface Property {
  name: string;
  value: string;
}
interface Hash {
  alg: 'SHA-256';
  content: string;
}
export interface CdxComponent {
  'bom-ref'?: string;
  type: string;
  name: string;
  version?: string;
  group?: string;
  purl?: string;
  hashes?: Hash[];
  licenses?: ({ license: { id: string } | { name: string } } | { expression: string })[];
  pedigree?: { ancestors?: CdxComponent[]; notes?: string };
  modelCard?: Record<string, unknown>;
  data?: Record<string, unknown>[];
  properties?: Property[];
  components?: CdxComponent[];
}
export interface CdxBom {
  bomFormat: 'CycloneDX';
  specVersion: CdxSpecVersion;
  serialNumber: string;
  version: number;
  metadata: Record<string, unknown>;
  components: CdxComponent[];
  dependencies: { ref: string; dependsOn: string[] }[];
  compositions: { aggregate: string; assemblies: string[] }[];
}

export interface BaseModelRef {
  ref: string;
  /** Lowercase hex SHA-256. */
  digest: string;
}

export interface SbomInput {
  facts: ModelFacts;
  /** OMS manifest resources (files serialization, sha256): the file components. */
  resources: Resource[];
  rootDigest: string;
  files: AnalyzedFile[];
  toolVersion: string;
  timestamp: Date;
  baseModel?: BaseModelRef;
}

function prop(name: string, value: string | number | undefined): Property[] {
  return value === undefined || value === '' ? [] : [{ name, value: String(value) }];
}

export function histogram(h: Record<string, number>): string {
  return Object.entries(h).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(',');
}

function licenseOf(license: string | undefined): CdxComponent['licenses'] {
  if (!license) return undefined;
  const id = SPDX.fixupSpdxId(license);
  if (id) return [{ license: { id } }];
  if (isLicenseExpression(license)) return [{ expression: license }];
  return [{ license: { name: license } }];
}

/** A compound SPDX expression whose license ids are all known (exceptions after WITH are not checked). */
export function isLicenseExpression(s: string): boolean {
  if (!/\s(AND|OR|WITH)\s/.test(s) || s.length > 512) return false;
  const tokens = s.replace(/[()]/g, ' ').split(/\s+/).filter(Boolean);
  return tokens.every((t, i) => ['AND', 'OR', 'WITH'].includes(t) || tokens[i - 1] === 'WITH' || SPDX.isSupportedSpdxId(t) || /^LicenseRef-[\w.-]+$/.test(t));
}

/** Hugging Face names (`org/name`) become purls; anything else stays a plain name. */
function ancestor(name: string): CdxComponent {
  const m = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)$/.exec(name);
  return m ? { type: 'machine-learning-model', group: m[1]!, name: m[2]!, purl: `pkg:huggingface/${m[1]}/${m[2]}` } : { type: 'machine-learning-model', name };
}

export function findingProperties(findings: Finding[]): Property[] {
  const out: Property[] = [];
  for (const f of findings.slice(0, 100)) {
    out.push({ name: `modelseal:scan:finding:${f.severity}`, value: `${f.kind}: ${f.detail}`.slice(0, 2000) });
    if (f.global) out.push({ name: 'modelseal:scan:pickle:global', value: f.global });
  }
  return out;
}

function fileComponent(r: Resource, a: AnalyzedFile | undefined): CdxComponent {
  const props: Property[] = [...prop('modelseal:format', a?.format), ...prop('modelseal:size', a?.size)];
  const info = a?.safetensors ?? a?.gguf ?? a?.onnx;
  if (a?.safetensors) props.push(...prop('modelseal:tensor_count', a.safetensors.tensorCount));
  if (a?.gguf) props.push(...prop('modelseal:tensor_count', a.gguf.tensorCount), ...prop('modelseal:gguf:version', a.gguf.version));
  if (a?.pickle && a.pickle.tensorCount > 0) props.push(...prop('modelseal:tensor_count', a.pickle.tensorCount));
  const params = info?.parameterCount ?? (a?.pickle && a.pickle.tensorCount > 0 ? a.pickle.parameterCount : undefined);
  props.push(...prop('modelseal:parameter_count', params));
  const dtypes = info?.dtypes ?? a?.pickle?.dtypes;
  if (dtypes && Object.keys(dtypes).length) props.push(...prop('modelseal:dtypes', histogram(dtypes)));
  if (a?.onnx) {
    props.push(...prop('modelseal:onnx:ir_version', a.onnx.irVersion), ...prop('modelseal:onnx:opsets', a.onnx.opsets.map((o) => `${o.domain}:${o.version}`).join(',')));
    props.push(...prop('modelseal:onnx:node_count', a.onnx.nodeCount), ...prop('modelseal:onnx:external_data', a.externalFiles?.join(',')));
  }
  if (a) props.push(...prop('modelseal:scan:result', a.findings.some((f) => f.severity !== 'info') ? 'fail' : 'pass'), ...findingProperties(a.findings));
  return {
    'bom-ref': `${FILE_REF_PREFIX}${r.name}`,
    type: 'file',
    name: r.name,
    hashes: [{ alg: 'SHA-256', content: r.digest }],
    ...(props.length ? { properties: props } : {}),
  };
}

export function buildCycloneDx(input: SbomInput, specVersion: CdxSpecVersion): CdxBom {
  const { facts, files } = input;
  const byPath = new Map(files.map((f) => [f.path, f]));
  const datasetRefs = facts.datasets.map((d, i) => ({ ref: `dataset:${i}`, name: d }));

  const cardProps: Property[] = [
    ...prop('cdx:ai-ml:model:parameter:count', facts.parameterCount === undefined ? undefined : humanCount(facts.parameterCount)),
    ...prop('modelseal:parameter_count', facts.parameterCount),
    ...prop('cdx:ai-ml:model:parameter:tune_methods', facts.tuneMethod),
    ...prop('cdx:ai-ml:model:hyperparameter:quantization', facts.quantization),
    ...prop('modelseal:dtypes', Object.keys(facts.dtypes).length ? histogram(facts.dtypes) : undefined),
    ...prop('modelseal:declared_dtype', facts.declaredDtype),
    ...Object.entries(facts.hyperparameters).sort().map(([k, v]) => ({ name: `cdx:ai-ml:model:hyperparameter:${k}`, value: v })),
    ...Object.entries(facts.tokenizer).sort().map(([k, v]) => ({ name: `cdx:ai-ml:tokenizer:hyperparameter:${k}`, value: v })),
    ...prop('cdx:ai-ml:model:languages', facts.languages.join(',')),
    ...(facts.chatTemplates.length ? [{ name: 'cdx:ai-ml:model:template:chat', value: 'true' }] : []),
    ...facts.chatTemplates.map((t) => ({ name: 'modelseal:chat_template:sha256', value: `${t.source}=${t.sha256}` })),
    ...prop('modelseal:formats', facts.formats.join(',')),
    ...prop('modelseal:onnx:producer', facts.onnx?.producer),
    ...prop('modelseal:onnx:opsets', facts.onnx?.opsets.join(',')),
  ];
  const modelParameters: Record<string, unknown> = {
    ...(facts.task ? { task: facts.task } : {}),
    ...(facts.architectureFamily ? { architectureFamily: facts.architectureFamily } : {}),
    ...(facts.architecture ? { modelArchitecture: facts.architecture } : {}),
    ...(datasetRefs.length ? { datasets: datasetRefs.map((d) => ({ ref: d.ref })) } : {}),
    ...(facts.inputs.length ? { inputs: facts.inputs.slice(0, 64).map((format) => ({ format })) } : {}),
    ...(facts.outputs.length ? { outputs: facts.outputs.slice(0, 64).map((format) => ({ format })) } : {}),
  };
  const modelCard: Record<string, unknown> = {
    modelParameters,
    ...(facts.co2EqEmissions ? { considerations: { environmentalConsiderations: { properties: [{ name: 'co2_eq_emissions', value: facts.co2EqEmissions }] } } } : {}),
    properties: cardProps,
  };

  const ancestors = facts.baseModels.map(ancestor);
  if (input.baseModel) {
    ancestors.push({ ...ancestor(input.baseModel.ref), hashes: [{ alg: 'SHA-256', content: input.baseModel.digest }] });
  }
  const notes = facts.baseModelRelation ? `base_model_relation=${facts.baseModelRelation}` : undefined;

  const allFindings = files.flatMap((f) => f.findings);
  const templateComponents: CdxComponent[] = facts.chatTemplates.map((t, i) => ({
    'bom-ref': `chat-template:${i}`,
    type: 'data',
    name: t.source,
    data: [{ type: 'configuration', name: 'chat_template' }],
    hashes: [{ alg: 'SHA-256', content: t.sha256 }],
    properties: [{ name: 'cdx:ai-ml:model:template:chat', value: 'true' }],
  }));

  const model: CdxComponent = {
    'bom-ref': MODEL_REF,
    type: 'machine-learning-model',
    name: facts.name,
    version: `sha256:${input.rootDigest}`,
    hashes: [{ alg: 'SHA-256', content: input.rootDigest }],
    ...(licenseOf(facts.license) ? { licenses: licenseOf(facts.license)! } : {}),
    ...(ancestors.length ? { pedigree: { ancestors, ...(notes ? { notes } : {}) } } : {}),
    modelCard,
    properties: [
      { name: 'modelseal:oms:root_digest', value: `sha256:${input.rootDigest}` },
      { name: 'modelseal:oms:serialization', value: 'files' },
      { name: 'modelseal:scan:result', value: allFindings.some((f) => f.severity !== 'info') ? 'fail' : 'pass' },
      ...prop('modelseal:scan:unsafe', allFindings.filter((f) => f.severity === 'unsafe').length),
      ...prop('modelseal:scan:inconclusive', allFindings.filter((f) => f.severity === 'inconclusive').length),
      ...(facts.remoteCode ? [{ name: 'modelseal:trust_remote_code', value: 'required' }] : []),
    ],
    components: [...input.resources.map((r) => fileComponent(r, byPath.get(r.name))), ...templateComponents],
  };

  return {
    bomFormat: 'CycloneDX',
    specVersion,
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: input.timestamp.toISOString(),
      lifecycles: [{ phase: 'post-build' }],
      tools: { components: [{ type: 'application', name: 'modelseal', version: input.toolVersion }] },
      // The subject of the BOM. No bom-ref: the full model component (files, card, pedigree) is the
      // one in `components` with ref "model", and refs must be unique across the BOM.
      component: { type: 'machine-learning-model', name: facts.name, version: `sha256:${input.rootDigest}`, hashes: [{ alg: 'SHA-256', content: input.rootDigest }] },
    },
    components: [
      model,
      ...datasetRefs.map((d) => ({ 'bom-ref': d.ref, type: 'data', name: d.name, data: [{ type: 'dataset', name: d.name }] })),
    ],
    dependencies: [{ ref: MODEL_REF, dependsOn: datasetRefs.map((d) => d.ref) }],
    // "complete" lets the verifier treat any file not listed as a violation.
    compositions: [{ aggregate: 'complete', assemblies: [MODEL_REF] }],
  };
}
