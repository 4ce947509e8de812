import { Command } from 'commander';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { refreshPublicGoodTrustedRoot } from '../trust/roots/public-good.js';
import { refreshedTrustRootPath } from '../trust/roots/load.js';
import { action, emit } from './output.js';

export function trustCommand(): Command {
  const trust = new Command('trust').description('manage the Sigstore trusted root used for keyless verification');
  trust.addCommand(
    new Command('refresh')
      .description('fetch the current public-good trusted root through TUF (online) and keep it as the default')
      .option('--output <file>', 'where to write it', refreshedTrustRootPath())
      .option('--mirror-url <url>', 'TUF mirror (default the public-good CDN)')
      .option('--json', 'print the result as JSON')
      .action(
        action(async (f: { output: string; mirrorUrl?: string; json?: boolean }) => {
          const cachePath = path.join(os.tmpdir(), `modelseal-tuf-${process.pid}`);
          const root = await refreshPublicGoodTrustedRoot({ cachePath, ...(f.mirrorUrl ? { mirrorURL: f.mirrorUrl } : {}) });
          await mkdir(path.dirname(f.output), { recursive: true });
          const tmp = `${f.output}.tmp`;
          await writeFile(tmp, JSON.stringify(root, null, 2) + '\n');
          await rename(tmp, f.output);
          emit(!!f.json, `trusted root written to ${f.output}`, { ok: true, output: f.output });
        }),
      ),
  );
  return trust;
}
