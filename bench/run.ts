/**
 * `npm run bench`: throughput and peak RSS of modelseal against the baselines the issues name,
 * all measured side by side in this one run on this machine. Prints a table; asserts nothing.
 * Data lives in $MODELSEAL_BENCH_DIR (default /tmp/modelseal-bench) and is reused between runs.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseContext, benchLocal, ms, prepare } from './local.js';
import { fmtRate } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const root = process.env.MODELSEAL_BENCH_DIR ?? '/tmp/modelseal-bench';
const only = new Set((process.env.MODELSEAL_BENCH ?? 'local,oci,s3,webhook').split(','));

async function main(): Promise<void> {
  await mkdir(root, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, MODELSEAL_LOG_LEVEL: 'warn', COSIGN_PASSWORD: 'bench' };
    // Run the CLI as users do (its shebang sets the Node flags), on the Node running this bench.
  env.PATH = `${path.dirname(process.execPath)}:${env.PATH ?? ''}`;
  const ctx = await baseContext(root, [path.join(repo, 'bin/modelseal')], env);
  if (!existsSync(`${ctx.keyPrefix}.key`)) await ms(ctx, ['generate-key-pair', '--output-key-prefix', ctx.keyPrefix]);
  console.log(`modelseal bench: ${ctx.cores} cores, one-core openssl sha256 ${fmtRate(ctx.oneCore, 1)}, data in ${root}`);
  // The webhook bench needs no large model: only the throughput benches prepare (and hash) one.
  if (only.has('local') || only.has('oci') || only.has('s3')) {
    const model = await prepare(root);
    const local = await benchLocal(ctx, model.multiDir, model.multiFiles, model.totalBytes);
    if (only.has('oci')) {
      const { benchOci } = await import('./oci.js');
      await benchOci(ctx, model, local);
    }
    if (only.has('s3')) {
      const { benchS3 } = await import('./s3.js');
      await benchS3(ctx, model, local);
    }
  }
  if (only.has('webhook')) {
    const { benchWebhook } = await import('./webhook.js');
    await benchWebhook(ctx);
  }
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...ctx.rows.map((r) => (r[i] ?? '').length)));
  for (const r of ctx.rows) console.log(r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  '));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
