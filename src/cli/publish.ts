import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { logger } from '../log.js';
import { rootDigest } from '../model/digest.js';
import { publish } from '../app/publish.js';
import { signManifest } from '../signatures/oms/sign.js';
import { generateSbom } from '../sbom/generate.js';
import { signSbom } from '../sbom/sign.js';
import { signStatement } from '../signatures/blob/sign.js';
import { referenceKind } from '../stores/registry.js';
import { addPathFlags, addSerializationFlags, type Method } from './common.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';
import { addS3Flags, s3OptionsFromFlags } from './s3-options.js';
import { manifestForSigning } from '../app/sign.js';
import { addKeylessFlags, signerFromFlags, signingRequest, type SignFlags } from './sign.js';

interface PublishFlags extends SignFlags {
  sign: Method;
  sbom?: string | boolean;
  cosign?: boolean;
  [k: string]: unknown;
}

export function publishCommand(): Command {
  const cmd = new Command('publish')
    .description('sign a model directory and publish it with its signature to an OCI registry (ModelPack) or an S3 prefix')
    .argument('<model-dir>', 'model directory')
    .argument('<destination>', 'oci://host/repo:tag | s3://bucket/prefix')
    .addOption(new Option('--sign <method>', 'how to sign').choices(['key', 'certificate', 'sigstore']).makeOptionMandatory())
    .option('--private-key <file>', 'key or certificate method: EC private key (PEM or cosign encrypted)')
    .option('--signing-cert <file>', 'certificate method: PEM leaf certificate')
    .option('--cert-chain <file...>', 'certificate method: intermediates and root, leaf-to-root')
    .option('--signature <path>', 'also write the bundle here (default: not written locally)')
    .option('--sbom [file]', 'attach a signed SBOM beside the signature: this CycloneDX/SPDX file, or (no file) one generated now')
    .option('--cosign', 'OCI: also sign the pushed manifest digest cosign-style (v3 bundle referrer)')
    .option('--json', 'print the result as JSON');
  addKeylessFlags(cmd, 'sigstore method: ');
  addSerializationFlags(cmd);
  addPathFlags(cmd);
  addOciFlags(cmd);
  addS3Flags(cmd);
  return cmd.action(
    action(async (dir: string, dest: string, f: PublishFlags) => {
      const kind = referenceKind(dest);
      if (kind === 'dir') throw new ModelsealError('USAGE', `destination must be oci://… or s3://…, not ${dest}`);
      if ((f.sign === 'key' || f.sign === 'certificate') && !f.privateKey) throw new ModelsealError('USAGE', `--sign ${f.sign} needs --private-key`);
      if (f.sign === 'certificate' && !f.signingCert) throw new ModelsealError('USAGE', '--sign certificate needs --signing-cert');
      const signer = await signerFromFlags(f.sign, f);
      const manifest = await manifestForSigning(signingRequest(dir, f.signature, f));
      const bundleJson = await signManifest(manifest, signer);
      if (f.signature) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(f.signature, bundleJson);
      }
      let sbomJson: string | undefined;
      let sbomBundleJson: string | undefined;
      if (f.sbom) {
        sbomJson =
          typeof f.sbom === 'string'
            ? await readFile(f.sbom, 'utf8')
            : (await generateSbom(dir, { format: 'cyclonedx', ignorePaths: manifest.serialization.ignorePaths, allowSymlinks: f.allowSymlinks })).json;
        // Signed with the model's signer: the statement binds the SBOM to the model's root digest.
        sbomBundleJson = await signSbom(Buffer.from(sbomJson), signer);
      }
      const out = await publish({
        dir,
        dest,
        manifest,
        bundleJson,
        ...(sbomJson ? { sbomJson } : {}),
        ...(sbomBundleJson ? { sbomBundleJson } : {}),
        ...(kind === 'oci' ? { oci: ociClientOptions(f as OciFlags) } : { s3: s3OptionsFromFlags(f) }),
        ...(f.cosign ? { cosignSigner: (statement: Buffer) => signStatement(statement, signer) } : {}),
      });
      const root = rootDigest(manifest.resources);
      logger().info({ event_type: 'model_published', model: dir, destination: out.destination, digest: out.digest, root_digest: root, files: out.files }, 'published');
      emit(
        !!f.json,
        `Published ${dir} -> ${out.destination}${out.digest ? `\n  manifest digest: ${out.digest}` : ''}\n  root digest: sha256:${root}\n  files: ${out.files}`,
        { ok: true, destination: out.destination, digest: out.digest, rootDigest: root, files: out.files },
      );
    }),
  );
}
