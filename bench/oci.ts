import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry } from '../test/harness/registry.js';
import { ms, type BenchContext, type Prepared } from './local.js';
import { best, pullRows, timed, type Run } from './measure.js';

/**
 * Pull+verify from a loopback registry against (a) local verify of the same files and
 * (b) `skopeo copy` to a directory followed by `sha256sum` of what it wrote.
 */
export async function benchOci(ctx: BenchContext, model: Prepared, local: Run): Promise<void> {
  const registry = await startRegistry();
  try {
    const ref = `oci://${registry.host}/bench/model:v1`;
    await ms(ctx, ['publish', model.multiDir, ref, '--sign', 'key', '--private-key', `${ctx.keyPrefix}.key`, '--plain-http']);
    const into = path.join(ctx.root, 'oci-pulled');
    const pull = await best(3, async () => {
      await rm(into, { recursive: true, force: true });
      await rm(`${into}.receipt.json`, { force: true });
      return ms(ctx, ['pull', ref, '--into', into, '--public-key', `${ctx.keyPrefix}.pub`, '--plain-http', '--concurrency', '4']);
    });
    const skopeoDir = path.join(ctx.root, 'skopeo-out');
    const baseline = await best(2, async () => {
      await rm(skopeoDir, { recursive: true, force: true });
      const copy = await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/bench/model:v1`, `dir:${skopeoDir}`]);
      const { readdir } = await import('node:fs/promises');
      const blobs = (await readdir(skopeoDir)).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => path.join(skopeoDir, f));
      const sum = await timed('sha256sum', blobs);
      return { seconds: copy.seconds + sum.seconds, maxRssKiB: Math.max(copy.maxRssKiB, sum.maxRssKiB), stdout: '' };
    });
    ctx.rows.push(...pullRows('OCI pull+verify (loopback registry)', model.totalBytes, pull, local, baseline, 'skopeo copy + sha256sum', 1.15));
    await rm(skopeoDir, { recursive: true, force: true });
  } finally {
    await registry.stop();
  }
}
