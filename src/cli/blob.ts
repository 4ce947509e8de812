import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { logDecision } from '../log.js';
import { signBlob } from '../signatures/blob/sign.js';
import { verifyBlob } from '../signatures/blob/verify.js';
import { PREDICATE_TYPE_NAMES, predicateTypeOf, verifyBlobAttestation } from '../signatures/blob/attestation.js';
import { blobTarget, describeTarget } from '../signatures/blob/target.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import { readBundleFile } from '../signatures/bundle-file.js';
import { authoritiesForMethod } from '../trust/resolve.js';
import type { Method } from './common.js';
import { action, emit } from './output.js';
import { addKeylessFlags, signerFromFlags } from './sign.js';

interface SignBlobFlags {
  bundle: string;
  key?: string;
  identityToken?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  tsaUrl?: string;
  json?: boolean;
}

/** cosign `sign-blob --bundle`: a v0.3 Sigstore bundle with a message signature over one file. */
export function signBlobCommand(): Command {
  const cmd = new Command('sign-blob')
    .description('sign one file into a cosign-compatible Sigstore bundle (key, or keyless without --key)')
    .argument('<file>', 'the file to sign (streamed, any size)')
    .requiredOption('--bundle <file>', 'where to write the bundle')
    .option('--key <file>', 'EC private key (PEM or cosign encrypted); omit for keyless')
    .option('--json', 'print the result as JSON');
  return addKeylessFlags(cmd, 'keyless: ').action(
      action(async (file: string, f: SignBlobFlags) => {
        const method: Method = f.key ? 'key' : 'sigstore';
        const signer = await signerFromFlags(method, { ...f, privateKey: f.key });
        const bundle = await signBlob(file, signer);
        await writeFile(f.bundle, bundle);
        emit(!!f.json, `signed ${file} -> ${f.bundle}`, { ok: true, file, bundle: f.bundle });
      }),
    );
}

interface VerifyBlobFlags {
  bundle: string;
  key?: string;
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  type?: string;
  json?: boolean;
}

function addVerifyFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--bundle <file>', 'the bundle')
    .option('--key <file>', 'PEM public key')
    .option('--certificate-identity <san>', 'keyless: exact signer identity')
    .option('--certificate-identity-regexp <re>', 'keyless: identity regexp, anchored at both ends')
    .option('--certificate-oidc-issuer <url>', 'keyless: exact OIDC issuer')
    .option('--trusted-root <file>', 'keyless: trusted_root.json or ClientTrustConfig (default: bundled public-good root)')
    .option('--json', 'print the result as JSON');
}

async function authoritiesOf(command: string, f: VerifyBlobFlags) {
  if (!f.key && f.certificateIdentity === undefined && f.certificateIdentityRegexp === undefined) {
    throw new ModelsealError('USAGE', `${command} needs --key, or --certificate-identity[-regexp] with --certificate-oidc-issuer`);
  }
  return f.key
    ? authoritiesForMethod('key', { publicKey: f.key })
    : authoritiesForMethod('sigstore', {
        identity: f.certificateIdentity,
        identityRegexp: f.certificateIdentityRegexp,
        identityProvider: f.certificateOidcIssuer,
        trustRoot: f.trustedRoot,
      });
}

const TARGET_HELP = 'the signed file (streamed), or sha256:<hex> for an artefact known only by digest';

/** cosign `verify-blob --bundle`: by key (tlog not required) or by keyless identity and issuer. */
export function verifyBlobCommand(): Command {
  return addVerifyFlags(
    new Command('verify-blob').description('verify a cosign-compatible Sigstore bundle over one file (offline)').argument('<file>', TARGET_HELP),
  ).action(
    action(async (file: string, f: VerifyBlobFlags) => {
      const target = blobTarget(file);
      const authorities = await authoritiesOf('verify-blob', f);
      const signer = await verifyBlob(target, await readBundleFile(f.bundle), authorities);
      const name = describeTarget(target);
      logDecision({ event_type: 'blob_verification', outcome: 'allowed', model: name, signer: signer.identity, reason: 'signature valid' });
      emit(!!f.json, `Verified OK: ${name}\n  signer: ${signerText(signer)}`, { ok: true, file: name, signer });
    }),
  );
}

/**
 * cosign `verify-blob-attestation --bundle`: a DSSE in-toto bundle (Rekor v1 or v2 entries, or
 * none for keys) whose statement lists the file's SHA-256 as a subject, of `--type` if given.
 */
export function verifyBlobAttestationCommand(): Command {
  return addVerifyFlags(
    new Command('verify-blob-attestation')
      .description('verify a DSSE in-toto attestation bundle whose statement names the file as a subject (offline)')
      .argument('<file>', TARGET_HELP)
      .option('--type <predicate>', `required predicate type: a URI or ${Object.keys(PREDICATE_TYPE_NAMES).join('|')} (default: any)`),
  ).action(
    action(async (file: string, f: VerifyBlobFlags) => {
      const target = blobTarget(file);
      const predicateType = f.type === undefined ? undefined : predicateTypeOf(f.type);
      const authorities = await authoritiesOf('verify-blob-attestation', f);
      const got = await verifyBlobAttestation(target, await readBundleFile(f.bundle), authorities, predicateType === undefined ? {} : { predicateType });
      const name = describeTarget(target);
      logDecision({ event_type: 'blob_attestation_verification', outcome: 'allowed', model: name, signer: got.signer.identity, reason: `attestation ${got.predicateType} valid` });
      emit(!!f.json, `Verified OK: ${name}\n  predicate: ${got.predicateType}\n  signer: ${signerText(got.signer)}`, {
        ok: true,
        file: name,
        predicateType: got.predicateType,
        subject: got.subject,
        signer: got.signer,
      });
    }),
  );
}

function signerText(signer: SignerIdentity): string {
  return `${signer.method} ${signer.identity}${signer.issuer ? ` (${signer.issuer})` : ''}`;
}
