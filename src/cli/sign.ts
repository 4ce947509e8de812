import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { rootDigest } from '../model/digest.js';
import { logger } from '../log.js';
import type { KeyObject } from 'node:crypto';
import { bundleSigner } from '../signatures/core/fulcio-identity.js';
import { expectedIdentity, resolveIdentityToken } from '../signatures/core/identity-token.js';
import { loadCertificates, loadPrivateKey } from '../signatures/core/keys.js';
import type { DeviceFlowOptions } from '../signatures/core/oidc-device-flow.js';
import { signManifest } from '../signatures/oms/sign.js';
import type { SignerSpec } from '../signatures/core/signer.js';
import { defaultSignaturePath, isDirectory, manifestForSigning, type SigningRequest } from '../app/sign.js';
import { addPathFlags, addSerializationFlags, shardSizeOf, type Method, type SerializationFlags } from './common.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';

export const PUBLIC_GOOD = {
  fulcio: 'https://fulcio.sigstore.dev',
  rekor: 'https://rekor.sigstore.dev',
  tsa: 'https://timestamp.sigstore.dev/api/v1/timestamp',
  oidcIssuer: 'https://oauth2.sigstore.dev/auth',
  oidcClientId: 'sigstore',
};

export interface SignerFlags {
  privateKey?: string;
  pkcs11Uri?: string;
  modulePath?: string;
  signingCert?: string;
  certChain?: string[];
  identityToken?: string;
  oidcDevice?: boolean;
  oidcIssuer?: string;
  oidcClientId?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  rekorApiVersion?: string;
  tsaUrl?: string;
}

export interface SignFlags extends SerializationFlags, SignerFlags {
  signature?: string;
  ignorePaths?: string[];
  ignoreGitPaths: boolean;
  allowSymlinks: boolean;
  json?: boolean;
}

/** The signing methods: model_signing 1.1's five (key, certificate, sigstore, pkcs11-key, pkcs11-certificate). */
export type SignMethod = Method | 'pkcs11-key' | 'pkcs11-certificate';

const PKCS11_URI_HELP = 'RFC 7512 key URI, e.g. "pkcs11:token=T;object=K?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin" (PIN also from $MODELSEAL_PKCS11_PIN)';

const TSA_URL_HELP = 'RFC 3161 timestamp authority to stamp the signature (verifiers trust it with --tsa-cert-chain)';

export function addSignerFlags(cmd: Command, method: SignMethod): Command {
  if (method !== 'sigstore') cmd.option('--tsa-url <url>', TSA_URL_HELP);
  if (method === 'pkcs11-key' || method === 'pkcs11-certificate') {
    cmd.requiredOption('--pkcs11-uri <uri>', PKCS11_URI_HELP).option('--module-path <file>', 'PKCS#11 module (overrides the URI\'s module-path/module-name)');
    if (method === 'pkcs11-key') return cmd;
    return cmd.requiredOption('--signing-cert <file>', 'PEM leaf certificate of the token key').option('--cert-chain <file...>', 'PEM intermediates and root, leaf-to-root');
  }
  if (method === 'key') return cmd.requiredOption('--private-key <file>', 'EC private key: PEM (PKCS#8/SEC1) or cosign encrypted key');
  if (method === 'certificate') {
    return cmd
      .requiredOption('--private-key <file>', 'EC private key of the signing certificate')
      .requiredOption('--signing-cert <file>', 'PEM leaf certificate')
      .option('--cert-chain <file...>', 'PEM intermediates and root, leaf-to-root');
  }
  return addKeylessFlags(cmd, '');
}

/** Keyless signing flags (public-good services by default); `prefix` labels them in shared help. */
export function addKeylessFlags(cmd: Command, prefix: string): Command {
  return cmd
    .option('--identity-token <jwt>', `${prefix}OIDC identity token (default: $SIGSTORE_ID_TOKEN, else the CI's own: GitHub Actions, Buildkite, CircleCI)`)
    .option('--oidc-device', `${prefix}no CI token: sign in from this terminal (OAuth device flow, RFC 8628)`)
    .option('--oidc-issuer <url>', `${prefix}issuer for --oidc-device`, PUBLIC_GOOD.oidcIssuer)
    .option('--oidc-client-id <id>', `${prefix}client ID for --oidc-device`, PUBLIC_GOOD.oidcClientId)
    .option('--fulcio-url <url>', `${prefix}Fulcio CA`, PUBLIC_GOOD.fulcio)
    .option('--rekor-url <url>', `${prefix}Rekor transparency log`, PUBLIC_GOOD.rekor)
    .option('--rekor-api-version <n>', `${prefix}Rekor API version, 1 or 2 (v2 has no integrated time: keep a TSA)`, '1')
    .option('--tsa-url <url>', `${prefix}RFC 3161 timestamp authority (keyless default: ${PUBLIC_GOOD.tsa}; empty: none)`);
}

/** Build the signer a method's flags describe (keys are parsed and checked here, at the edge). */
export async function signerFromFlags(method: SignMethod, f: SignerFlags): Promise<SignerSpec> {
  const read = (p: string) =>
    readFile(p, 'utf8').catch(() => {
      throw new ModelsealError('KEY_INVALID', `cannot read ${p}`);
    });
  const privateKey = async () => loadPrivateKey(await read(f.privateKey!), f.privateKey!);
  const chain = async () => {
    const chainPems: string[] = [];
    for (const c of f.certChain ?? []) chainPems.push(await read(c));
    return chainPems;
  };
  const pkcs11 = async (publicKey?: KeyObject) => {
    const { openPkcs11Key } = await import('../signatures/core/pkcs11.js');
    return openPkcs11Key(f.pkcs11Uri!, { ...(f.modulePath === undefined ? {} : { modulePath: f.modulePath }), ...(publicKey === undefined ? {} : { publicKey }) });
  };
  // Key and certificate signatures are timestamped only when asked (the keyless default TSA does not apply).
  const tsa = f.tsaUrl ? { tsaUrl: f.tsaUrl } : {};
  if (method === 'key') return { kind: 'key', privateKey: await privateKey(), ...tsa };
  if (method === 'certificate') return { kind: 'certificate', privateKey: await privateKey(), leafPem: await read(f.signingCert!), chainPems: await chain(), ...tsa };
  if (method === 'pkcs11-key') return { kind: 'key', privateKey: await pkcs11(), ...tsa };
  if (method === 'pkcs11-certificate') {
    const leafPem = await read(f.signingCert!);
    // The leaf names the token key's public half: no public key object is needed on the token.
    const leaf = loadCertificates(leafPem, 'signing certificate')[0];
    if (!leaf) throw new ModelsealError('KEY_INVALID', `${f.signingCert} holds no certificate`);
    return { kind: 'certificate', privateKey: await pkcs11(leaf.publicKey), leafPem, chainPems: await chain(), ...tsa };
  }
  const tsaUrl = f.tsaUrl ?? PUBLIC_GOOD.tsa;
  const { token, source, claims } = await resolveIdentityToken({ explicit: f.identityToken, device: deviceFlowFromFlags(f) });
  logger().info({ event_type: 'identity_token', source, issuer: claims.iss, identity: expectedIdentity(claims) }, 'OIDC identity token obtained');
  return {
    kind: 'sigstore',
    identityToken: token,
    fulcioUrl: f.fulcioUrl ?? PUBLIC_GOOD.fulcio,
    rekorUrl: f.rekorUrl ?? PUBLIC_GOOD.rekor,
    ...(f.rekorApiVersion === undefined || f.rekorApiVersion === '1' ? {} : { rekorApiVersion: rekorApiVersionOf(f.rekorApiVersion, !!tsaUrl) }),
    ...(tsaUrl ? { tsaUrl } : {}),
  };
}

function rekorApiVersionOf(value: string, withTsa: boolean): 2 {
  if (value !== '2') throw new ModelsealError('USAGE', `--rekor-api-version must be 1 or 2, not ${JSON.stringify(value)}`);
  // A v2 entry proves inclusion but no time; without a timestamp the certificate cannot be checked at signing time.
  if (!withTsa) throw new ModelsealError('USAGE', '--rekor-api-version 2 needs a --tsa-url (Rekor v2 records no signing time)');
  return 2;
}

/** The device flow only when asked for, and only with a person at the terminal to approve it. */
function deviceFlowFromFlags(f: SignerFlags): DeviceFlowOptions | undefined {
  if (!f.oidcDevice || f.identityToken !== undefined) return undefined;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new ModelsealError('USAGE', '--oidc-device needs a person at a terminal (stdin and stderr are not a TTY); in CI use its OIDC token');
  }
  return {
    issuer: f.oidcIssuer ?? PUBLIC_GOOD.oidcIssuer,
    clientId: f.oidcClientId ?? PUBLIC_GOOD.oidcClientId,
    // The prompt goes to stderr so stdout (and --json) stays the command's result.
    prompt: (text) => process.stderr.write(`${text}\n`),
  };
}

/** The signing request a command's path and serialization flags describe. */
export function signingRequest(model: string, signaturePath: string | undefined, f: SignFlags): SigningRequest {
  return {
    model,
    ...(signaturePath ? { signaturePath } : {}),
    method: f.serialization,
    hashType: f.hash,
    ...(f.serialization === 'shards' ? { shardSize: shardSizeOf(f) } : {}),
    ...(f.ignorePaths ? { ignorePaths: f.ignorePaths } : {}),
    ignoreGitPaths: f.ignoreGitPaths,
    allowSymlinks: f.allowSymlinks,
  };
}

const METHOD_HELP: Record<SignMethod, string> = {
  key: 'a private key',
  certificate: 'a certificate chain',
  sigstore: 'Sigstore keyless (online)',
  'pkcs11-key': 'a key in a PKCS#11 token (needs pkcs11-tool, Debian opensc)',
  'pkcs11-certificate': 'a PKCS#11 token key and its certificate chain (needs pkcs11-tool)',
};

/**
 * `sign … oci://…`: the OMS manifest from the published artefact's raw layer digests, signed and
 * attached as a referrer; no weight is downloaded. Only `files` + `sha256` follow from digests.
 */
async function signFromDigests(method: SignMethod, reference: string, f: SignFlags & OciFlags): Promise<void> {
  if (f.serialization !== 'files' || f.hash !== 'sha256') {
    throw new ModelsealError('USAGE', 'signing from registry digests gives files/sha256 resources only (layer digests are SHA-256 of whole files): drop --serialization/--hash');
  }
  const signer = await signerFromFlags(method, f);
  const { signPublishedModel } = await import('../app/sign-digests.js');
  const r = await signPublishedModel(reference, signer, ociClientOptions(f));
  logger().info({ event_type: 'model_signed', model: r.reference, root_digest: r.rootDigest, method, referrer: r.referrer, files: r.resources }, 'signed from digests');
  emit(!!f.json, `signed ${r.reference} from its layer digests (${r.resources} files, root sha256:${r.rootDigest}); attached as referrer ${r.referrer}`, {
    ok: true,
    model: r.reference,
    rootDigest: r.rootDigest,
    resources: r.resources,
    referrer: r.referrer,
  });
}

export function signCommand(): Command {
  const sign = new Command('sign').description('sign a model directory into an OMS v1.0 bundle (model.sig)');
  for (const method of ['key', 'certificate', 'sigstore', 'pkcs11-key', 'pkcs11-certificate'] as const) {
    const sub = new Command(method)
      .description(`sign with ${METHOD_HELP[method]}`)
      .argument('<model>', 'model directory or single file, or oci://… to sign a published artefact from its layer digests')
      .option('--signature <path>', 'where to write the bundle (default <model>/model.sig)')
      .option('--json', 'print the result as JSON');
    addSignerFlags(sub, method);
    addSerializationFlags(sub);
    addPathFlags(sub);
    addOciFlags(sub);
    sub.action(
      action(async (model: string, f: SignFlags) => {
        if (model.startsWith('oci://')) return signFromDigests(method, model, f);
        const sigPath = f.signature ?? defaultSignaturePath(model, await isDirectory(model));
        const signer = await signerFromFlags(method, f);
        const manifest = await manifestForSigning(signingRequest(model, sigPath, f));
        const bundle = await signManifest(manifest, signer);
        await writeFile(sigPath, bundle);
        const root = rootDigest(manifest.resources);
        // Keyless: name who signed, as the certificate says (what a verifier must pin).
        const by = method === 'sigstore' ? bundleSigner(bundle) : {};
        logger().info({ event_type: 'model_signed', model, root_digest: root, method, signature: sigPath, files: manifest.resources.length, signer: by.identity, issuer: by.issuer }, 'signed');
        emit(!!f.json, `signed ${model} (${manifest.resources.length} resources, root sha256:${root}) -> ${sigPath}${by.identity ? `\n  signer: ${by.identity} (${by.issuer})` : ''}`, {
          ok: true,
          model,
          rootDigest: root,
          resources: manifest.resources.length,
          signature: sigPath,
          ...(by.identity ? { signer: by } : {}),
        });
      }),
    );
    sign.addCommand(sub);
  }
  return sign;
}
