import { Command } from 'commander';
import { inspectOci, type InspectReport } from '../app/inspect.js';
import { methodsIn, resolveTrust } from '../trust/resolve.js';
import { addTrustFlags, type TrustFlags } from './common.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';
import { ModelsealError } from '../errors.js';
import type { Authority } from '../signatures/core/types.js';
import { parseOciReference } from '../stores/oci/reference.js';

interface InspectFlags extends TrustFlags, OciFlags {
  json?: boolean;
  notationPolicy?: string;
  notationTrustStore?: string;
}

export function inspectCommand(): Command {
  const cmd = new Command('inspect')
    .description('show an OCI model artefact: format, files, sizes, signatures found (verified when trust flags or --policy are given)')
    .argument('<reference>', 'oci://host[:port]/repo[:tag][@sha256:…]')
    .option('--json', 'print the report as JSON')
    .option('--notation-policy <file>', 'verify Notation signatures with this Notation trustpolicy.oci.json (needs --notation-trust-store)')
    .option('--notation-trust-store <dir>', 'Notation trust store directory (x509/{ca,signingAuthority,tsa}/<name>/)');
  addTrustFlags(cmd, true);
  addOciFlags(cmd);
  cmd.action(action(async (reference: string, f: InspectFlags) => {
    let authorities = methodsIn(f).length > 0 || f.policy ? (await resolveTrust(reference, f)).authorities : undefined;
    if (f.notationPolicy || f.notationTrustStore) authorities = [...(authorities ?? []), ...(await notationAuthorities(reference, f))];
    const report = await inspectOci(reference, { ...ociClientOptions(f), ...(authorities ? { authorities } : {}) });
    emit(!!f.json, render(report), report);
  }));
  return cmd;
}

async function notationAuthorities(reference: string, f: InspectFlags): Promise<Authority[]> {
  if (!f.notationPolicy || !f.notationTrustStore) throw new ModelsealError('USAGE', '--notation-policy and --notation-trust-store go together');
  const { loadNotationConfig, notationAuthoritiesFor } = await import('../signatures/notation/trust-policy.js');
  const ref = parseOciReference(reference);
  return notationAuthoritiesFor(await loadNotationConfig(f.notationPolicy, f.notationTrustStore), `${ref.registry}/${ref.repository}`);
}

function render(r: InspectReport): string {
  const lines = [
    `${r.reference}`,
    `  digest: ${r.resolvedDigest}`,
    `  format: ${r.format} (${r.artifactType ?? r.configMediaType})`,
    `  files (${r.files.length}):`,
    ...r.files.map((f) => `    ${f.path}  ${f.size} bytes  ${f.packed}${f.sha256 ? `  sha256:${f.sha256}` : ''}`),
    `  signatures (${r.signatures.length}, referrers via ${r.referrersVia}):`,
    ...r.signatures.map((s) => {
      const state = s.verified === undefined ? 'not checked' : s.verified ? `VERIFIED ${s.signer?.method} ${s.signer?.identity}` : `NOT VERIFIED${s.reason ? `: ${s.reason}` : ''}${s.mismatches ? `: ${s.mismatches.join(', ')}` : ''}`;
      return `    ${s.kind}  ${s.origin}  ${state}`;
    }),
    ...(r.problems.length ? ['  problems:', ...r.problems.map((p) => `    ${p}`)] : []),
  ];
  return lines.join('\n');
}
