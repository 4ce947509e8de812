import { Command } from 'commander';
import { attachOmsSignature } from '../app/attach.js';
import { readBundleFile } from '../signatures/bundle-file.js';
import { addOciFlags, ociClientOptions, type OciFlags } from './oci-options.js';
import { action, emit } from './output.js';

interface AttachFlags extends OciFlags {
  signature: string;
  json?: boolean;
}

export function attachCommand(): Command {
  const cmd = new Command('attach')
    .description('attach another OMS signature (model.sig) to a published OCI model, e.g. a second signer for a policy threshold')
    .argument('<reference>', 'oci://host[:port]/repo[:tag][@sha256:…]')
    .requiredOption('--signature <file>', 'the OMS bundle to attach, made by `modelseal sign` over the same files')
    .option('--json', 'print the result as JSON');
  addOciFlags(cmd);
  cmd.action(action(async (reference: string, f: AttachFlags) => {
    const bundle = await readBundleFile(f.signature);
    const r = await attachOmsSignature(reference, bundle, ociClientOptions(f));
    emit(!!f.json, `attached ${f.signature} to ${reference} (${r.digest}) as referrer ${r.referrer}`, r);
  }));
  return cmd;
}
