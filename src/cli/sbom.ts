import { Command, Option } from 'commander';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { logDecision } from '../log.js';
import { generateSbom, SBOM_FORMATS, type SbomFormat } from '../sbom/generate.js';
import { signSbom } from '../sbom/sign.js';
import { verifySbom } from '../sbom/verify.js';
import { isDirectory } from '../app/sign.js';
import { hasSignatureFile, insideTree, signingScope } from '../model/scope.js';
import { resolveTrust } from '../trust/resolve.js';
import { addPathFlags, addTrustFlags, type Method, type TrustFlags } from './common.js';
import { downloadUnverified } from '../stores/download.js';
import { openSource, referenceKind } from '../stores/registry.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';
import { addS3Flags, s3OptionsFromFlags } from './s3-options.js';
import { addSignerFlags, signerFromFlags, type SignerFlags } from './sign.js';

interface PathFlags {
  ignorePaths?: string[];
  ignoreGitPaths: boolean;
  allowSymlinks: boolean;
}

interface GenerateFlags extends PathFlags {
  format: SbomFormat;
  output?: string;
  baseModel?: string;
  downloadLocation?: string;
  supplier?: string;
  json?: boolean;
}

interface VerifyFlags extends PathFlags, TrustFlags {
  bundle?: string;
  requireSignature?: boolean;
  json?: boolean;
}

/** `<sbom>.sigstore.json`, as cosign names attestation bundles. */
export function defaultSbomBundle(sbomPath: string): string {
  return `${sbomPath}.sigstore.json`;
}

async function read(p: string, what: string): Promise<Buffer> {
  return readFile(p).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read ${what} ${p}`);
  });
}

/**
 * Same ignores as `sign` (git paths, model.sig) so file digests match the OMS manifest, plus
 * the SBOM and its bundle when they are written inside the model directory.
 */
async function ignoresFor(model: string, f: PathFlags, inside: (string | undefined)[]): Promise<string[]> {
  if (!(await isDirectory(model))) return [];
  const sbomFiles = inside.filter((x): x is string => x !== undefined).map((x) => insideTree(model, x)).filter((x): x is string => x !== undefined);
  const scope = signingScope(model, { user: [...(f.ignorePaths ?? []), ...sbomFiles], gitPaths: f.ignoreGitPaths, existingSignatureFile: await hasSignatureFile(model) });
  return [...scope.ignores];
}

function methodFromFlags(f: TrustFlags): Method | undefined {
  if (f.publicKey) return 'key';
  if (f.certChain?.length) return 'certificate';
  if (f.identity !== undefined || f.identityRegexp !== undefined || f.identityProvider !== undefined) return 'sigstore';
  return undefined;
}

/** A remote model (oci://, s3://) is described from a temporary copy, removed afterwards. */
async function withLocalCopy<T>(model: string, f: GenerateFlags, use: (dir: string, location?: string) => Promise<T>): Promise<T> {
  const kind = referenceKind(model);
  if (kind === 'dir') return use(model);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'modelseal-sbom-'));
  try {
    const name = model.replace(/[@:][^/]*$/, '').split('/').filter(Boolean).pop() ?? 'model';
    const dir = path.join(tmp, name);
    const source = await openSource(model, kind === 'oci' ? { oci: ociClientOptions(f as OciFlags) } : { s3: s3OptionsFromFlags(f as unknown as Record<string, unknown>) });
    const pinned = await downloadUnverified(source, dir);
    return await use(dir, pinned.startsWith('sha256:') ? `${model.replace(/@sha256:[0-9a-f]+$/, '')}@${pinned}` : model);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function runGenerate(model: string, f: GenerateFlags): Promise<void> {
  const res = await withLocalCopy(model, f, async (dir, location) =>
    generateSbom(dir, {
      format: f.format,
      ignorePaths: await ignoresFor(dir, f, [f.output]),
      allowSymlinks: f.allowSymlinks,
      ...(f.baseModel ? { baseModel: f.baseModel } : {}),
      ...(f.downloadLocation ?? location ? { downloadLocation: f.downloadLocation ?? location } : {}),
      ...(f.supplier ? { supplier: f.supplier } : {}),
    }),
  );
  const blocking = res.findings.filter((x) => x.severity !== 'info');
  if (!f.output) {
    process.stdout.write(res.json);
  } else {
    await writeFile(f.output, res.json);
    emit(!!f.json, [
      `SBOM written: ${f.output} (${f.format})`,
      `  model: ${res.facts.name}  root digest: sha256:${res.rootDigest}`,
      `  files: ${res.manifest.resources.length}  parameters: ${res.facts.parameterCount ?? 'unknown'}`,
      `  scan: ${blocking.length === 0 ? 'pass' : `${blocking.length} finding(s)`}`,
      ...blocking.slice(0, 20).map((x) => `    ${x.severity} ${x.path}: ${x.detail}`),
    ].join('\n'), {
      ok: true, output: f.output, format: f.format, rootDigest: res.rootDigest, files: res.manifest.resources.length,
      parameterCount: res.facts.parameterCount, findings: res.findings,
    });
  }
}

async function runSign(method: Method, sbomPath: string, f: SignerFlags & { bundle?: string; json?: boolean }): Promise<void> {
  const signer = await signerFromFlags(method, f);
  const bundlePath = f.bundle ?? defaultSbomBundle(sbomPath);
  const bundle = await signSbom(await read(sbomPath, 'SBOM'), signer);
  await writeFile(bundlePath, bundle);
  emit(!!f.json, `SBOM signed: ${bundlePath}`, { ok: true, sbom: sbomPath, bundle: bundlePath, method });
}

async function runVerify(sbomPath: string, model: string, f: VerifyFlags): Promise<void> {
  const sbom = await read(sbomPath, 'SBOM');
  const bundlePath = f.bundle ?? defaultSbomBundle(sbomPath);
  const hasBundle = await access(bundlePath).then(() => true, () => false);
  const method = methodFromFlags(f);
  const wantsTrust = method !== undefined || f.policy !== undefined;
  if (f.bundle && !hasBundle) throw new ModelsealError('NOT_FOUND', `bundle ${f.bundle} does not exist`);
  if (hasBundle && !wantsTrust) throw new ModelsealError('USAGE', `found ${bundlePath}: say who may sign it (--public-key, --cert-chain, --identity… or --policy)`);
  const authorities = hasBundle ? (await resolveTrust(model, f, method ? { method } : {})).authorities : undefined;
  try {
    const res = await verifySbom(sbom, model, {
      ...(hasBundle ? { bundle: await read(bundlePath, 'bundle'), authorities } : {}),
      requireSignature: !!f.requireSignature || wantsTrust,
      ignorePaths: await ignoresFor(model, f, [sbomPath, bundlePath]),
      allowSymlinks: f.allowSymlinks,
    });
    logDecision({
      event_type: 'sbom_verification', outcome: 'allowed', model, root_digest: res.rootDigest,
      ...(res.signer ? { signer: res.signer.identity } : {}), reason: 'SBOM valid and every file matches',
    });
    emit(!!f.json, [
      `SBOM verified: ${sbomPath} (${res.format} ${res.specVersion})`,
      `  model: ${res.modelName}  root digest: sha256:${res.rootDigest}`,
      `  files checked: ${res.checked}${res.complete ? ' (complete: no undeclared files)' : ''}`,
      `  signer: ${res.signer ? `${res.signer.method} ${res.signer.identity}` : 'none (unsigned SBOM)'}`,
    ].join('\n'), { ok: true, sbom: sbomPath, model, ...res });
  } catch (err) {
    logDecision({
      event_type: 'sbom_verification', outcome: 'blocked', model, reason: (err as Error).message,
      code: err instanceof ModelsealError ? err.code : 'INTERNAL',
    });
    throw err;
  }
}

/**
 * Unless the root program enables positional options, `sbom`'s own flags (--json, --ignore-paths,
 * --allow-symlinks…) written after `sbom verify …` are parsed by `sbom`, not by the subcommand:
 * take every flag an ancestor received from the command line that the subcommand did not.
 */
function withParentFlags<T>(cmd: Command): T {
  const out: Record<string, unknown> = { ...cmd.opts() };
  for (let p = cmd.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.opts())) {
      if (p.getOptionValueSource(k) === 'cli' && cmd.getOptionValueSource(k) !== 'cli') out[k] = v;
    }
  }
  return out as T;
}

/** `modelseal sbom <model>`, `modelseal sbom sign <method> <sbom>`, `modelseal sbom verify <sbom> <model>`. */
export function sbomCommand(): Command {
  const sbom = new Command('sbom')
    .description('generate a model SBOM (CycloneDX ML-BOM or SPDX 3 AI) with a model-file safety scan')
    .argument('<model>', 'model directory or single file, or oci://… / s3://… (described from a temporary copy)')
    .addOption(new Option('--format <format>', 'SBOM format').choices([...SBOM_FORMATS]).default('cyclonedx'))
    .option('--output <file>', 'write the SBOM here (default: stdout)')
    .option('--base-model <ref@digest>', 'base model this one derives from: REF@sha256:<hex>')
    .option('--download-location <uri>', 'SPDX software_downloadLocation (default: file: URI of the model)')
    .option('--supplier <name>', 'SPDX supplier organization')
    .option('--json', 'print the result as JSON (with --output)');
  addPathFlags(sbom);
  addOciFlags(sbom);
  addS3Flags(sbom);
  sbom.action(action((model: string, f: GenerateFlags) => runGenerate(model, f)));

  const sign = new Command('sign').description('sign an SBOM as an in-toto attestation in a Sigstore bundle');
  for (const method of ['key', 'certificate', 'sigstore'] as const) {
    const sub = new Command(method)
      .description(`sign with the ${method} method`)
      .argument('<sbom>', 'SBOM file (CycloneDX or SPDX 3 JSON)')
      .option('--bundle <file>', 'where to write the bundle (default <sbom>.sigstore.json)')
      .option('--json', 'print the result as JSON');
    addSignerFlags(sub, method);
    sub.action(action((sbomPath: string, _f: unknown, cmd: Command) => runSign(method, sbomPath, withParentFlags<SignerFlags & { bundle?: string; json?: boolean }>(cmd))));
    sign.addCommand(sub);
  }
  sbom.addCommand(sign);

  const verify = new Command('verify')
    .description('validate an SBOM, check its signature, and re-hash every model file against it')
    .argument('<sbom>', 'SBOM file')
    .argument('<model>', 'model directory or single file')
    .option('--bundle <file>', 'signature bundle (default <sbom>.sigstore.json when it exists)')
    .option('--require-signature', 'fail when the SBOM is not signed')
    .option('--json', 'print the result as JSON');
  addTrustFlags(verify, true);
  addPathFlags(verify);
  verify.action(action((sbomPath: string, model: string, _f: unknown, cmd: Command) => runVerify(sbomPath, model, withParentFlags<VerifyFlags>(cmd))));
  sbom.addCommand(verify);
  return sbom;
}
