import { randomUUID } from 'node:crypto';
import { SPDX } from '@cyclonedx/cyclonedx-library';
import { histogram, isLicenseExpression, type SbomInput } from './cyclonedx.js';
import { humanCount } from '../facts.js';

/** SPDX 3.0.1 JSON-LD with the AI profile. Elements sit flat in `@graph` and refer to each other by IRI. */

export const SPDX_CONTEXT = 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld';
const CI = '_:creationinfo';

export interface SpdxOptions {
  /** Where the model was obtained (OCI/S3 URI); SPDX has no NOASSERTION for it. */
  downloadLocation: string;
  supplier?: string;
}

export type SpdxElement = Record<string, unknown> & { type: string; spdxId?: string };
export interface SpdxDocumentJson {
  '@context': string;
  '@graph': SpdxElement[];
}

/** SPDX DateTime has no fractional seconds. */
export function spdxTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function licenseExpression(license: string | undefined): string | undefined {
  if (!license) return undefined;
  return SPDX.fixupSpdxId(license) ?? (isLicenseExpression(license) ? license : undefined);
}

export function buildSpdx3(input: SbomInput, opts: SpdxOptions): SpdxDocumentJson {
  const { facts } = input;
  const ns = `urn:spdx:modelseal:${randomUUID()}`;
  const id = (local: string) => `${ns}#${local}`;
  const created = spdxTime(input.timestamp);
  const el = (type: string, local: string, props: Record<string, unknown>): SpdxElement => ({ type, spdxId: id(local), creationInfo: CI, ...props });

  const agent = el('SoftwareAgent', 'agent-modelseal', { name: 'modelseal' });
  const tool = el('Tool', 'tool-modelseal', { name: `modelseal ${input.toolVersion}` });
  const supplier = el('Organization', 'supplier', { name: opts.supplier ?? 'NOASSERTION' });

  const hyper: [string, string][] = [
    ...(facts.parameterCount !== undefined ? [['parameter_count', String(facts.parameterCount)] as [string, string], ['parameter_count_human', humanCount(facts.parameterCount)] as [string, string]] : []),
    ...(facts.quantization ? [['quantization', facts.quantization] as [string, string]] : []),
    ...(Object.keys(facts.dtypes).length ? [['dtypes', histogram(facts.dtypes)] as [string, string]] : []),
    ...Object.entries(facts.hyperparameters).sort(),
    ...Object.entries(facts.tokenizer).sort().map(([k, v]) => [`tokenizer.${k}`, v] as [string, string]),
    ...facts.chatTemplates.map((t) => [`chat_template.sha256:${t.source}`, t.sha256] as [string, string]),
    ...(facts.onnx ? [['onnx.opsets', facts.onnx.opsets.join(',')] as [string, string]] : []),
  ];
  const training: string[] = [];
  if (facts.datasets.length) training.push(`datasets: ${facts.datasets.join(', ')}`);
  if (facts.baseModels.length) training.push(`base models: ${facts.baseModels.join(', ')}`);
  if (input.baseModel) training.push(`base model: ${input.baseModel.ref}@sha256:${input.baseModel.digest}`);
  if (facts.baseModelRelation) training.push(`base_model_relation: ${facts.baseModelRelation}`);
  if (facts.tuneMethod) training.push(`tune method: ${facts.tuneMethod}`);
  const findings = input.files.flatMap((f) => f.findings);
  const blocking = findings.filter((f) => f.severity !== 'info').length;

  const pkg = el('ai_AIPackage', 'model', {
    name: facts.name,
    releaseTime: created,
    suppliedBy: supplier.spdxId,
    software_downloadLocation: opts.downloadLocation,
    software_packageVersion: `sha256:${input.rootDigest}`,
    software_primaryPurpose: 'model',
    verifiedUsing: [{ type: 'Hash', algorithm: 'sha256', hashValue: input.rootDigest }],
    ...(facts.architecture || facts.architectureFamily ? { ai_typeOfModel: [facts.architecture ?? facts.architectureFamily] } : {}),
    ...(facts.task ? { ai_domain: [facts.task] } : {}),
    ...(hyper.length ? { ai_hyperparameter: hyper.map(([key, value]) => ({ type: 'DictionaryEntry', key, value })) } : {}),
    ...(training.length ? { ai_informationAboutTraining: training.join('; ') } : {}),
    ...(facts.remoteCode ? { ai_limitation: 'loading requires trust_remote_code (repository Python code runs)' } : {}),
    comment: `modelseal scan: ${blocking === 0 ? 'pass' : `fail (${blocking} findings)`}; OMS root digest sha256:${input.rootDigest}`,
  });

  const fileIds = new Map<string, string>();
  const files = input.resources.map((r, i) => {
    const f = el('software_File', `file-${i}`, {
      name: r.name,
      verifiedUsing: [{ type: 'Hash', algorithm: 'sha256', hashValue: r.digest }],
    });
    fileIds.set(r.name, f.spdxId!);
    return f;
  });
  const contains = el('Relationship', 'rel-contains', {
    from: pkg.spdxId, to: files.map((f) => f.spdxId), relationshipType: 'contains',
    // "complete": a file present but not listed is a violation, as CycloneDX composition "complete".
    completeness: 'complete',
  });
  const extra: SpdxElement[] = [];
  const expr = licenseExpression(facts.license);
  if (expr) {
    const lic = el('simplelicensing_LicenseExpression', 'license', { simplelicensing_licenseExpression: expr });
    extra.push(lic, el('Relationship', 'rel-license', { from: pkg.spdxId, to: [lic.spdxId], relationshipType: 'hasDeclaredLicense' }));
  }
  findings.slice(0, 500).forEach((f, i) => {
    const subject = fileIds.get(f.path);
    if (!subject) return;
    extra.push(el('Annotation', `finding-${i}`, { annotationType: 'review', subject, statement: `${f.severity} ${f.kind}: ${f.detail}${f.global ? ` [global ${f.global}]` : ''}`.slice(0, 2000) }));
  });

  const members = [agent, tool, supplier, pkg, ...files, contains, ...extra];
  const sbom = el('software_Sbom', 'sbom', {
    rootElement: [pkg.spdxId], element: members.map((m) => m.spdxId), software_sbomType: ['analyzed'],
  });
  const doc = el('SpdxDocument', 'document', {
    name: `SBOM for ${facts.name}`,
    rootElement: [sbom.spdxId], element: [...members, sbom].map((m) => m.spdxId),
    profileConformance: ['core', 'software', 'ai', 'simpleLicensing'],
  });
  const creationInfo = { type: 'CreationInfo', '@id': CI, specVersion: '3.0.1', created, createdBy: [agent.spdxId], createdUsing: [tool.spdxId] };
  return { '@context': SPDX_CONTEXT, '@graph': [creationInfo, ...members, sbom, doc] };
}
