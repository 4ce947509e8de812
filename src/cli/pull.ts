import { Command } from 'commander';
import { exitCodeFor, isModelsealError, ModelsealError, oneLine } from '../errors.js';
import { logDecision } from '../log.js';
import { pull } from '../app/pull.js';
import { openSource, sourceKind } from '../stores/registry.js';
import type { Authority } from '../signatures/core/types.js';
import { addTrustFlags, authoritiesFromFlags, resolveTrust, type Method, type TrustFlags } from './common.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';
import { policyChecks } from '../trust/checks.js';
import { addS3Flags, s3OptionsFromFlags } from './s3-options.js';

interface PullFlags extends TrustFlags {
  into: string;
  receipt?: string;
  signature?: string;
  ignoreUnsignedFiles?: boolean;
  concurrency: string;
  requireSbom?: boolean;
  allowUnsafePickle?: boolean;
  json?: boolean;
  [k: string]: unknown;
}

/** Which methods the flags name: a pull can trust several kinds of signer at once. */
export function methodsFromFlags(f: TrustFlags): Method[] {
  const out: Method[] = [];
  if (f.publicKey) out.push('key');
  if (f.certChain?.length) out.push('certificate');
  if (f.identity !== undefined || f.identityRegexp !== undefined) out.push('sigstore');
  return out;
}

export async function trustForPull(reference: string, f: TrustFlags) {
  if (f.policy) return resolveTrust(reference, undefined, f);
  const methods = methodsFromFlags(f);
  if (methods.length === 0) throw new ModelsealError('USAGE', 'say who is trusted: --public-key, --cert-chain, --identity/--identity-regexp, or --policy');
  const authorities: Authority[] = [];
  for (const m of methods) authorities.push(...(await authoritiesFromFlags(m, f)));
  return { authorities };
}

export function pullCommand(): Command {
  const cmd = new Command('pull')
    .description('verify a model (oci://, s3:// or a directory) and place it read-only: signature first, then every byte while it streams')
    .argument('<reference>', 'oci://host/repo[:tag][@sha256:…] | s3://bucket/prefix | directory')
    .requiredOption('--into <dir>', 'new or empty directory for the verified model')
    .option('--receipt <file>', 'receipt path (default <into>.receipt.json, never inside the model)')
    .option('--signature <path>', 'detached OMS bundle (directories: default <dir>/model.sig; S3: an s3:// URL)')
    .option('--ignore-unsigned-files', 'skip (never place) files the signature does not cover instead of failing')
    .option('--concurrency <n>', 'files downloaded in parallel', '4')
    .option('--require-sbom', 'refuse a model without a valid signed SBOM that matches its files')
    .option('--allow-unsafe-pickle', 'do not refuse pickles that can run code when loaded (not recommended)')
    .option('--json', 'print the receipt as JSON');
  addTrustFlags(cmd, true);
  addOciFlags(cmd);
  addS3Flags(cmd);
  return cmd.action(action((reference: string, f: PullFlags) => runPull(reference, f)));
}

async function runPull(reference: string, f: PullFlags): Promise<void> {
  const concurrency = Number(f.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new ModelsealError('USAGE', '--concurrency must be 1..64');
  let resolvedDigest: string | undefined;
  try {
    const trust = await trustForPull(reference, f);
    const rule = trust.rule;
    const kind = sourceKind(reference);
    const source = await openSource(reference, {
      ...(kind === 'oci' ? { oci: ociClientOptions(f as OciFlags) } : {}),
      ...(kind === 's3' ? { s3: s3OptionsFromFlags(f, rule?.requireObjectLock ?? false) } : {}),
      signaturePath: f.signature,
    });
    const checks = policyChecks({
      requireSbom: f.requireSbom ?? rule?.requireSbom ?? false,
      blockUnsafePickle: f.allowUnsafePickle ? false : (rule?.blockUnsafePickle ?? true),
      requireCosign: rule?.requireCosign ?? false,
      threshold: rule?.threshold ?? 1,
      authorities: trust.authorities,
    });
    const result = await pull({
      reference,
      source,
      authorities: trust.authorities,
      into: f.into,
      receiptPath: f.receipt,
      ignoreUnsignedFiles: f.ignoreUnsignedFiles ?? rule?.ignoreUnsignedFiles ?? false,
      concurrency,
      ...(trust.policy ? { policyInfo: { path: trust.policy.source, sha256: trust.policy.sha256, rule: rule?.match } } : {}),
      beforeCommit: checks,
    });
    const r = result.receipt;
    resolvedDigest = r.resolvedDigest;
    logDecision({
      event_type: 'model_pull',
      outcome: 'allowed',
      model: reference,
      resolved_digest: r.resolvedDigest,
      root_digest: r.model.rootDigest,
      signer: r.signer.identity,
      signer_method: r.signer.method,
      placed_at: result.placedAt,
      receipt: result.receiptPath,
      files: r.model.files.length,
      reason: 'signature valid and every file matches',
    });
    emit(
      !!f.json,
      `Pulled and verified ${reference}\n${r.resolvedDigest ? `  resolved: ${r.resolvedDigest}\n` : ''}  root digest: sha256:${r.model.rootDigest ?? '-'}\n  signer: ${r.signer.method} ${r.signer.identity}\n  files: ${r.model.files.length} placed read-only in ${result.placedAt}\n  receipt: ${result.receiptPath}`,
      { ok: true, placedAt: result.placedAt, receiptPath: result.receiptPath, receipt: r },
    );
  } catch (err) {
    const exit = exitCodeFor(err);
    logDecision({
      event_type: 'model_pull',
      outcome: exit === 7 || exit === 2 || exit === 1 ? 'failed' : 'blocked',
      model: reference,
      ...(resolvedDigest ? { resolved_digest: resolvedDigest } : {}),
      reason: oneLine(err),
      code: isModelsealError(err) ? err.code : 'INTERNAL',
    });
    throw err;
  }
}
