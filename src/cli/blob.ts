import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { logDecision } from '../log.js';
import { signBlob } from '../signatures/blob/sign.js';
import { verifyBlob } from '../signatures/blob/verify.js';
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
  json?: boolean;
}

/** cosign `verify-blob --bundle`: by key (tlog not required) or by keyless identity and issuer. */
export function verifyBlobCommand(): Command {
  return new Command('verify-blob')
    .description('verify a cosign-compatible Sigstore bundle over one file (offline)')
    .argument('<file>', 'the signed file (streamed)')
    .requiredOption('--bundle <file>', 'the bundle')
    .option('--key <file>', 'PEM public key')
    .option('--certificate-identity <san>', 'keyless: exact signer identity')
    .option('--certificate-identity-regexp <re>', 'keyless: identity regexp, anchored at both ends')
    .option('--certificate-oidc-issuer <url>', 'keyless: exact OIDC issuer')
    .option('--trusted-root <file>', 'keyless: trusted_root.json (default: bundled public-good root)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (file: string, f: VerifyBlobFlags) => {
        if (!f.key && f.certificateIdentity === undefined && f.certificateIdentityRegexp === undefined) {
          throw new ModelsealError('USAGE', 'verify-blob needs --key, or --certificate-identity[-regexp] with --certificate-oidc-issuer');
        }
        const authorities = f.key
          ? await authoritiesForMethod('key', { publicKey: f.key })
          : await authoritiesForMethod('sigstore', {
              identity: f.certificateIdentity,
              identityRegexp: f.certificateIdentityRegexp,
              identityProvider: f.certificateOidcIssuer,
              trustRoot: f.trustedRoot,
            });
        const signer = await verifyBlob(file, await readBundleFile(f.bundle), authorities);
        logDecision({ event_type: 'blob_verification', outcome: 'allowed', model: file, signer: signer.identity, reason: 'signature valid' });
        emit(!!f.json, `Verified OK: ${file}\n  signer: ${signer.method} ${signer.identity}${signer.issuer ? ` (${signer.issuer})` : ''}`, { ok: true, file, signer });
      }),
    );
}
