import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry } from '../test/harness/registry.js';
import { ms, type BenchContext, type Prepared } from './local.js';
import { request } from 'undici';
import { best, fmtRate, pullRows, timed, type Run } from './measure.js';

/** Every layer blob of repo:tag fetched by curl, `parallel` at a time, into `dir` (downloads only). */
async function curlBlobs(host: string, repo: string, tag: string, dir: string, parallel: number): Promise<Run> {
  const res = await request(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const manifest = (await res.body.json()) as { layers: Array<{ digest: string }> };
  const urls = manifest.layers.map((l) => `http://${host}/v2/${repo}/blobs/${l.digest}`);
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const list = path.join(dir, 'urls');
  await writeFile(list, urls.join('\n') + '\n');
  return timed('sh', ['-c', `cd '${dir}' && xargs -P ${parallel} -n 1 curl -sfO < urls`]);
}

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
    const curlDir = path.join(ctx.root, 'curl-out');
    const download = await best(2, async () => {
      await rm(curlDir, { recursive: true, force: true });
      return curlBlobs(registry.host, 'bench/model', 'v1', curlDir, 4);
    });
    ctx.rows.push(...pullRows('OCI pull+verify (loopback registry)', model.totalBytes, pull, local, baseline, 'skopeo copy + sha256sum', 1.15));
    // Only moving the bytes, with no hashing and no verification: the floor of any pull here.
    ctx.rows.push(['  floor: curl, same 4 parallel GETs to files', '', `${download.seconds.toFixed(2)} s`, fmtRate(model.totalBytes, download.seconds), `ratio ${(download.seconds / local.seconds).toFixed(2)} vs local verify`]);
    await rm(curlDir, { recursive: true, force: true });
    await rm(skopeoDir, { recursive: true, force: true });
  } finally {
    await registry.stop();
  }
}
