import { Command } from 'commander';
import { ExitCode, ModelsealError } from '../errors.js';
import { logDecision } from '../log.js';
import { auditDeployment, type AuditReport } from '../app/audit.js';
import { readReceipt } from '../placement/receipt-file.js';
import { renderSummary, summarizeReceipts } from '../app/audit-summary.js';
import { outcomeFor } from '../init/decision.js';
import { addTrustFlags, type TrustFlags } from './common.js';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { receiptBundlePath } from '../placement/receipt-signature.js';
import { authoritiesForMethod, resolveTrust } from '../trust/resolve.js';
import { action, emit } from './output.js';

interface AuditFlags extends TrustFlags {
  receipt?: string;
  receiptPublicKey?: string;
  receiptIdentity?: string;
  receiptIdentityRegexp?: string;
  receiptIdentityProvider?: string;
  receipts?: string;
  ignoreUnsignedFiles?: boolean;
  json?: boolean;
}

export function auditCommand(): Command {
  const cmd = new Command('audit')
    .description('re-check a deployed model offline against its receipt, or summarise many receipts')
    .argument('[dir]', 'the deployed model directory (with --receipt)')
    .option('--receipt <file>', 'the receipt written when the model was placed (default <dir>.receipt.json)')
    .option('--receipt-public-key <file>', 'require the receipt to be signed by this key (<receipt>.sigstore.json)')
    .option('--receipt-identity <san>', 'require a keyless receipt signature by this identity')
    .option('--receipt-identity-regexp <re>', 'require a keyless receipt signature by an identity matching this (anchored) regexp')
    .option('--receipt-identity-provider <url>', 'OIDC issuer of the keyless receipt signer')
    .option('--receipts <dir>', 'summarise every receipt under this directory (digests, signers, placements)')
    .option('--ignore-unsigned-files', 'do not fail on files the receipt does not record')
    .option('--json', 'print the report as JSON');
  addTrustFlags(cmd, true);
  cmd.action(async (dir: string | undefined, f: AuditFlags) => {
    // A failed audit still prints its full report (one JSON document with --json), so it sets
    // the exit code after `action` instead of throwing through it.
    let failed: { code: string; exitCode: number; reason: string } | undefined;
    await action(async () => {
      failed = f.receipts !== undefined ? await runSummary(dir, f) : await runAudit(dir, f);
    })();
    if (failed) {
      process.stderr.write(`modelseal: ${failed.code}: ${failed.reason}\n`);
      process.exitCode = failed.exitCode;
    }
  });
  return cmd;
}

type Failed = { code: string; exitCode: number; reason: string } | undefined;

async function runSummary(dir: string | undefined, f: AuditFlags): Promise<Failed> {
  if (dir !== undefined || f.receipt !== undefined) throw new ModelsealError('USAGE', '--receipts summarises a directory of receipts; do not combine it with a model dir or --receipt');
  const s = await summarizeReceipts(f.receipts!);
  emit(!!f.json, renderSummary(s), s);
  if (s.invalid.length === 0) return undefined;
  return { code: 'CONFIG_INVALID', exitCode: ExitCode.USAGE, reason: `${s.invalid.length} receipt(s) could not be read: ${s.invalid[0]!.file}` };
}

async function runAudit(dir: string | undefined, f: AuditFlags): Promise<Failed> {
  if (dir === undefined) throw new ModelsealError('USAGE', 'audit needs the deployed model <dir> (or --receipts DIR)');
  // pull writes the receipt beside the model, never inside it.
  const receiptPath = f.receipt ?? `${path.resolve(dir)}.receipt.json`;
  const receipt = await readReceipt(receiptPath);
  const trust = await resolveTrust(receipt.reference, f, { overrides: { ignoreUnsignedFiles: f.ignoreUnsignedFiles } });
  const receiptSignature = await receiptSignatureFor(receiptPath, f);
  const report = await auditDeployment({
    dir,
    receipt,
    receiptPath,
    authorities: trust.authorities,
    ignoreUnsignedFiles: trust.requirements.ignoreUnsignedFiles,
    ...(receiptSignature ? { receiptSignature } : {}),
  });
  logDecision({
    event_type: 'deployment_audit',
    outcome: outcomeFor(report.exitCode),
    model: report.reference,
    ...(report.resolvedDigest ? { resolved_digest: report.resolvedDigest } : {}),
    ...(report.rootDigest ? { root_digest: report.rootDigest } : {}),
    signer: (report.signer ?? report.recordedSigner).identity,
    dir: report.dir,
    receipt: report.receipt,
    reason: report.reason ?? 'deployed files match the receipt and its signature',
    code: report.code ?? 'OK',
  });
  emit(!!f.json, renderAudit(report), report);
  return report.ok ? undefined : { code: report.code!, exitCode: report.exitCode, reason: report.reason! };
}

/** The receipt's own signature, when the auditor names who must have signed it. */
async function receiptSignatureFor(receiptPath: string, f: AuditFlags) {
  const byKey = f.receiptPublicKey !== undefined;
  const keyless = f.receiptIdentity !== undefined || f.receiptIdentityRegexp !== undefined;
  if (!byKey && !keyless) return undefined;
  const authorities = byKey
    ? await authoritiesForMethod('key', { publicKey: f.receiptPublicKey })
    : await authoritiesForMethod('sigstore', { identity: f.receiptIdentity, identityRegexp: f.receiptIdentityRegexp, identityProvider: f.receiptIdentityProvider, trustRoot: f.trustRoot });
  const bundlePath = receiptBundlePath(receiptPath);
  if (!(await access(bundlePath).then(() => true, () => false))) {
    throw new ModelsealError('SIGNATURE_MISSING', `the receipt must be signed, but ${bundlePath} does not exist`);
  }
  return { bundle: await readFile(bundlePath), authorities };
}

function renderAudit(r: AuditReport): string {
  const lines = [
    `${r.ok ? 'Audit OK' : 'Audit FAILED'}: ${r.dir}`,
    `  reference:   ${r.reference}${r.resolvedDigest ? ` (${r.resolvedDigest})` : ''}`,
    `  root digest: ${r.rootDigest ? `sha256:${r.rootDigest}` : '(none)'}`,
    `  signer:      ${(r.signer ?? r.recordedSigner).method} ${(r.signer ?? r.recordedSigner).identity}`,
    ...(r.receiptSigner ? [`  receipt:     signed by ${r.receiptSigner.method} ${r.receiptSigner.identity}`] : []),
    `  signature:   ${r.signature.verified ? 'verifies' : `does not verify (${r.signature.reason})`}${r.signature.verified && !r.signature.matchesReceipt ? ', but signs something else than the receipt records' : ''}`,
    `  files:       ${r.files.checked} resources checked`,
  ];
  for (const [label, xs] of [['changed', r.files.changed], ['missing', r.files.missing], ['added', r.files.extra]] as const) {
    for (const x of xs) lines.push(`    ${label}: ${x}`);
  }
  return lines.join('\n');
}
