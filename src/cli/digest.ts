import { Command } from 'commander';
import path from 'node:path';
import { rootDigest } from '../model/digest.js';
import { manifestForSigning } from '../app/sign.js';
import { addPathFlags, addSerializationFlags, shardSizeOf, type SerializationFlags } from './common.js';
import { action, emit } from './output.js';

interface DigestFlags extends SerializationFlags {
  ignorePaths?: string[];
  ignoreGitPaths: boolean;
  allowSymlinks: boolean;
  json?: boolean;
}

export function digestCommand(): Command {
  const cmd = new Command('digest')
    .description('print the OMS root digest of a model (code-point resource order, as the spec); --json prints the manifest')
    .argument('<model>', 'model directory or single file')
    .option('--json', 'print the full manifest as JSON');
  addSerializationFlags(cmd);
  addPathFlags(cmd);
  return cmd.action(
    action(async (model: string, f: DigestFlags) => {
      const m = await manifestForSigning({
        model,
        method: f.serialization,
        hashType: f.hash,
        ...(f.serialization === 'shards' ? { shardSize: shardSizeOf(f) } : {}),
        ...(f.ignorePaths ? { ignorePaths: f.ignorePaths } : {}),
        ignoreGitPaths: f.ignoreGitPaths,
        allowSymlinks: f.allowSymlinks,
      });
      const root = rootDigest(m.resources);
      emit(!!f.json, root, { name: m.modelName ?? path.basename(model), rootDigest: root, serialization: m.serialization, resources: m.resources });
    }),
  );
}
