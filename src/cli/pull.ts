import { Command } from 'commander';
import { asModelsealError, exitCodeFor, isModelsealError, ModelsealError, oneLine } from '../errors.js';
import { logDecision } from '../log.js';
import { pull } from '../app/pull.js';
import { openSource } from '../stores/registry.js';
import { resolveTrust } from '../trust/resolve.js';
import { addTrustFlags, type TrustFlags } from './common.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';
import { addS3Flags, s3OptionsFromFlags } from './s3-options.js';
import { signerFromFlags } from './sign.js';
import { addCacheFlags, cacheFromFlags, type CacheFlags } from './cache-options.js';
import { addTelemetryFlag } from './telemetry-options.js';
import { traceDecision } from '../telemetry/tracing.js';
import { exitSoonAfterAbort, parseDuration, RunControl } from '../placement/run-control.js';
import { Progress } from '../progress/progress.js';
import { showProgress } from '../progress/display.js';

interface PullFlags extends TrustFlags {
  into: string;
  receipt?: string;
  signature?: string;
  ignoreUnsignedFiles?: boolean;
  concurrency: string;
  requireSbom?: boolean;
  allowUnsafePickle?: boolean;
  requireObjectLock?: boolean;
  requireImmutability?: boolean;
  receiptKey?: string;
  json?: boolean;
  replace?: boolean;
  timeout?: string;
  stallTimeout?: string;
  [k: string]: unknown;
}

export function pullCommand(): Command {
  const cmd = new Command('pull')
    .description('verify a model (oci://, s3:// or a directory) and place it read-only: signature first, then every byte while it streams')
    .argument('<reference>', 'oci://host/repo[:tag][@sha256:…] | s3://bucket/prefix | directory')
    .requiredOption('--into <dir>', 'new or empty directory for the verified model (a mount point works too)')
    .option('--replace', 'replace what --into holds: keep it when it is this model (re-verified in place), else stage, verify and swap')
    .option('--timeout <duration>', 'deadline for the whole pull, e.g. 90s, 30m, 2h (exit 7 when it passes; default none)')
    .option('--stall-timeout <duration>', 'fail (exit 7) when a transfer moves less than 64 KiB in this long (default 60s)')
    .option('--receipt <file>', 'receipt path (default <into>.receipt.json, never inside the model)')
    .option('--signature <path>', 'detached OMS bundle (directories: default <dir>/model.sig; S3: an s3:// URL)')
    .option('--ignore-unsigned-files', 'skip (never place) files the signature does not cover instead of failing')
    .option('--concurrency <n>', 'files downloaded in parallel', '4')
    .option('--require-sbom', 'refuse a model without a valid signed SBOM that matches its files')
    .option('--allow-unsafe-pickle', 'do not refuse pickles that can run code when loaded (not recommended)')
    .option('--require-immutability', 'Azure Blob: refuse blobs without a locked time-based retention policy or a legal hold')
    .option('--receipt-key <file>', 'sign the receipt with this private key (PEM or cosign encrypted) into <receipt>.sigstore.json')
    .option('--json', 'print the receipt as JSON');
  addTrustFlags(cmd, true);
  addOciFlags(cmd);
  addS3Flags(cmd);
  addCacheFlags(cmd);
  addTelemetryFlag(cmd);
  return cmd.action(action((reference: string, f: PullFlags) => traceDecision('pull', reference, () => runPull(reference, f))));
}

async function runPull(reference: string, f: PullFlags): Promise<void> {
  const concurrency = Number(f.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new ModelsealError('USAGE', '--concurrency must be 1..64');
  let resolvedDigest: string | undefined;
  const timeoutMs = f.timeout === undefined ? undefined : parseDuration(f.timeout, '--timeout');
  const stallMs = f.stallTimeout === undefined ? undefined : parseDuration(f.stallTimeout, '--stall-timeout');
  const progress = new Progress();
  const control = new RunControl({ ...(timeoutMs ? { timeoutMs } : {}), ...(stallMs ? { stallMs } : {}) }, progress).start({ signals: true });
  const stopDisplay = showProgress(progress);
  try {
    const trust = await resolveTrust(reference, f, {
      overrides: { requireSbom: f.requireSbom, allowUnsafePickle: f.allowUnsafePickle, ignoreUnsignedFiles: f.ignoreUnsignedFiles, requireObjectLock: f.requireObjectLock === true, requireImmutability: f.requireImmutability === true },
    });
    const source = await openSource(reference, {
      oci: ociClientOptions(f as OciFlags),
      s3: s3OptionsFromFlags(f),
      azure: { requireImmutability: trust.requirements.requireImmutability },
      ...(f.signature ? { signaturePath: f.signature } : {}),
    });
    const receiptSigner = f.receiptKey ? await signerFromFlags('key', { privateKey: f.receiptKey }) : undefined;
    const cache = await cacheFromFlags(f as CacheFlags);
    const result = await control.run((signal) =>
      pull({
        reference, source, trust, into: f.into, receiptPath: f.receipt, concurrency, signal, progress, replace: f.replace ?? false,
        ...(receiptSigner ? { receiptSigner } : {}), ...(cache ? { cache } : {}),
      }),
    );
    stopDisplay();
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
      reason: result.alreadyPlaced ? 'already placed; re-verified' : 'signature valid and every file matches',
    });
    emit(
      !!f.json,
      `${result.alreadyPlaced ? 'Already placed; re-verified' : 'Pulled and verified'} ${reference}\n${r.resolvedDigest ? `  resolved: ${r.resolvedDigest}\n` : ''}  root digest: sha256:${r.model.rootDigest ?? '-'}\n  signer: ${r.signer.method} ${r.signer.identity}\n  files: ${r.model.files.length} placed read-only in ${result.placedAt}\n  receipt: ${result.receiptPath}`,
      { ok: true, placedAt: result.placedAt, receiptPath: result.receiptPath, receipt: r },
    );
  } catch (err) {
    const exit = exitCodeFor(err);
    logDecision({
      event_type: 'model_pull',
      outcome: exit === 7 || exit === 2 || exit === 1 || exit === 130 || exit === 143 ? 'failed' : 'blocked',
      model: reference,
      ...(resolvedDigest ? { resolved_digest: resolvedDigest } : {}),
      reason: oneLine(err),
      code: asModelsealError(err).code,
      exit_code: exit,
    });
    exitSoonAfterAbort(control);
    throw err;
  } finally {
    stopDisplay();
    control.dispose();
  }
}
