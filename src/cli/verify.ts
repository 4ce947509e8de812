import { Command } from 'commander';
import { defaultSignaturePath, isDirectory } from '../app/sign.js';
import { verifyInPlace } from '../app/verify.js';
import { asModelsealError, exitCodeFor, isModelsealError, oneLine } from '../errors.js';
import { logDecision } from '../log.js';
import { insideTree, modelRelativePaths } from '../model/scope.js';
import { readBundleFile } from '../signatures/bundle-file.js';
import { candidateOf } from '../signatures/candidate.js';
import { resolveTrust } from '../trust/resolve.js';
import { addTrustFlags, type Method, type TrustFlags } from './common.js';
import { action, emit } from './output.js';
import { addTelemetryFlag } from './telemetry-options.js';
import { traceDecision } from '../telemetry/tracing.js';

interface VerifyFlags extends TrustFlags {
  signature?: string;
  ignorePaths?: string[];
  ignoreGitPaths: boolean;
  ignoreUnsignedFiles?: boolean;
  allowSymlinks: boolean;
  json?: boolean;
}

export function verifyCommand(): Command {
  const verify = new Command('verify').description('verify a local model against its OMS signature (offline)');
  for (const method of ['key', 'certificate', 'sigstore', 'policy'] as const) {
    const sub = new Command(method)
      .description(method === 'policy' ? 'verify with the authorities a trust policy names (--policy)' : `verify a ${method}-method signature`)
      .argument('<model>', 'model directory or single file')
      .option('--signature <path>', 'the bundle (default <model>/model.sig)')
      .option('--ignore-paths <path...>', 'model-relative (or absolute) paths to leave out')
      .option('--no-ignore-git-paths', 'check git files too')
      .option('--ignore-unsigned-files', 'do not fail on files the signature does not cover')
      .option('--allow-symlinks', 'follow symlinks that stay inside the model directory', false)
      .option('--json', 'print the result as JSON');
    addTrustFlags(sub, method !== 'policy');
    if (method === 'policy') sub.requiredOption('--policy <file>', 'trust policy file');
    addTelemetryFlag(sub);
    sub.action(action((model: string, f: VerifyFlags) => traceDecision('verify', model, () => runVerify(model, method === 'policy' ? undefined : method, f))));
    verify.addCommand(sub);
  }
  return verify;
}

async function runVerify(model: string, method: Method | undefined, f: VerifyFlags): Promise<void> {
  try {
    const trust = await resolveTrust(model, f, { ...(method ? { method } : {}), overrides: { ignoreUnsignedFiles: f.ignoreUnsignedFiles } });
    const isDir = await isDirectory(model);
    const signaturePath = f.signature ?? defaultSignaturePath(model, isDir);
    const sigInTree = isDir ? insideTree(model, signaturePath) : undefined;
    const res = await verifyInPlace({
      path: model,
      candidates: [candidateOf('oms', signaturePath, await readBundleFile(signaturePath))],
      trust,
      local: {
        user: isDir ? modelRelativePaths(model, f.ignorePaths) : [],
        gitPaths: f.ignoreGitPaths,
        signatureFiles: sigInTree ? [sigInTree] : [],
      },
      allowSymlinks: f.allowSymlinks,
    });
    const v = res.chosen.verified;
    const signer = v.signer;
    logDecision({
      event_type: 'model_verification',
      outcome: 'allowed',
      model,
      root_digest: v.rootDigest,
      signer: signer.identity,
      signer_method: signer.method,
      ...(signer.issuer ? { issuer: signer.issuer } : {}),
      reason: 'signature valid and every file matches',
    });
    const n = res.report.ignoredExtra.length;
    const ignored = n ? ` (${n} unsigned file${n === 1 ? '' : 's'} ignored)` : '';
    emit(
      !!f.json,
      `Verified OK: ${model}\n  root digest: ${v.rootDigest ? `sha256:${v.rootDigest}` : '(legacy v0.2, none)'}\n  signer: ${signer.method} ${signer.identity}${signer.issuer ? ` (${signer.issuer})` : ''}\n  resources checked: ${res.report.checked}${ignored}`,
      {
        ok: true,
        model,
        rootDigest: v.rootDigest ? `sha256:${v.rootDigest}` : undefined,
        predicateType: v.predicateType,
        signer,
        checked: res.report.checked,
        ignoredUnsigned: res.report.ignoredExtra,
        signature: signaturePath,
      },
    );
  } catch (err) {
    logDecision({
      event_type: 'model_verification',
      outcome: isModelsealError(err) && exitCodeFor(err) !== 7 && exitCodeFor(err) !== 2 ? 'blocked' : 'failed',
      model,
      reason: oneLine(err),
      code: asModelsealError(err).code,
    });
    throw err;
  }
}
