import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startOtlpSink } from '../test/harness/otlp-sink.js';
import { startRegistry } from '../test/harness/registry.js';
import { ceilingTool, ms, type BenchContext, type Prepared } from './local.js';
import { best, fmtCpu, fmtRate, GiB, sumRuns, timed, type Run } from './measure.js';

/** The layer blobs of repo:tag: digest and size. */
async function layers(host: string, repo: string, tag: string): Promise<Array<{ digest: string; size: number }>> {
  const res = await request(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return ((await res.body.json()) as { layers: Array<{ digest: string; size: number }> }).layers;
}

/**
 * Every layer blob fetched by curl, `parallel` at a time, into `dir`; with `hashTool` each blob
 * is also hashed by C + OpenSSL right after it lands (curl + C hashing: what a pull that
 * verifies costs without any runtime).
 */
async function curlBlobs(host: string, repo: string, tag: string, dir: string, parallel: number, hashTool?: string): Promise<Run> {
  const ls = await layers(host, repo, tag);
  await mkdir(dir, { recursive: true });
  const list = path.join(dir, 'jobs');
  await writeFile(list, ls.map((l) => `http://${host}/v2/${repo}/blobs/${l.digest} ${l.digest.slice(7)} ${l.size}`).join('\n') + '\n');
  const each = hashTool ? `curl -sfo "$2" "$1" && '${hashTool}' "$2" 0 "$3" >/dev/null` : 'curl -sfo "$2" "$1"';
  return timed('sh', ['-c', `cd '${dir}' && xargs -P ${parallel} -n 3 sh -c '${each.replace(/'/g, `'\\''`)}' _ < jobs`]);
}

function row(label: string, bytes: number, r: Run, note: string): string[] {
  return [label, `${(bytes / GiB).toFixed(2)} GiB`, `${r.seconds.toFixed(2)} s`, fmtRate(bytes, r.seconds), `${(r.maxRssKiB / 1024).toFixed(0)} MiB, ${fmtCpu(r, bytes)}${note ? `; ${note}` : ''}`];
}

/**
 * Pull+verify from a loopback registry beside what the machine allows: bare `curl` of the same
 * blobs (the floor of any pull), curl + C hashing (the floor of any verifying pull), skopeo +
 * sha256sum; then the same pull through a local mirror (a Distribution pull-through cache,
 * warm) and a second pull from a warm node cache.
 */
export async function benchOci(ctx: BenchContext, model: Prepared, local: Run): Promise<void> {
  const registry = await startRegistry();
  const mirror = await startRegistry({ proxy: registry.url('') });
  const bytes = model.totalBytes;
  try {
    const ref = `oci://${registry.host}/bench/model:v1`;
    await ms(ctx, ['publish', model.multiDir, ref, '--sign', 'key', '--private-key', `${ctx.keyPrefix}.key`, '--plain-http']);
    const into = path.join(ctx.root, 'oci-pulled');
    const pullArgs = (extra: string[] = []) => ['pull', ref, '--into', into, '--public-key', `${ctx.keyPrefix}.pub`, '--plain-http', '--concurrency', '4', ...extra];
    const fresh = async () => {
      await rm(into, { recursive: true, force: true });
      await rm(`${into}.receipt.json`, { force: true });
    };
    const pull = await best(3, async () => {
      await fresh();
      return ms(ctx, pullArgs());
    });
    // The pod-startup figure the isolation pattern sets an SLO on: the init container's decision
    // span, as an OTLP collector receives it (best of 3, same model, same registry).
    const sink = await startOtlpSink();
    const initSpans: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        await fresh();
        await timed(ctx.cli[0]!, [...ctx.cli.slice(1), 'init', '--source', ref, '--into', into, '--public-key', `${ctx.keyPrefix}.pub`, '--plain-http'], { ...ctx.env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint });
        const root = sink.spans.filter((s) => s.name === 'weight_integrity_check' && s.attributes['modelseal.outcome'] === 'allowed').at(-1);
        if (root) initSpans.push(root.durationMs / 1000);
      }
    } finally {
      await sink.close();
    }
    const span = Math.min(...initSpans);
    ctx.rows.push([`init span weight_integrity_check (OCI, ${(model.totalBytes / 2 ** 30).toFixed(1)} GiB)`, '', `${span.toFixed(2)} s`, fmtRate(model.totalBytes, span), `SLO < 30 s: ${span < 30 ? 'met' : 'MISSED'}`]);
    const curlDir = path.join(ctx.root, 'curl-out');
    const download = await best(2, async () => {
      await rm(curlDir, { recursive: true, force: true });
      return curlBlobs(registry.host, 'bench/model', 'v1', curlDir, 4);
    });
    const cTool = ceilingTool(ctx.root);
    const curlC = cTool
      ? await best(2, async () => {
          await rm(curlDir, { recursive: true, force: true });
          return curlBlobs(registry.host, 'bench/model', 'v1', curlDir, 4, cTool);
        })
      : undefined;
    const skopeoDir = path.join(ctx.root, 'skopeo-out');
    await rm(skopeoDir, { recursive: true, force: true });
    const copy = await timed('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/bench/model:v1`, `dir:${skopeoDir}`]);
    const { readdir } = await import('node:fs/promises');
    const blobs = (await readdir(skopeoDir)).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => path.join(skopeoDir, f));
    const skopeo = sumRuns(copy, await timed('sha256sum', blobs));

    // Through the mirror: `--mirror <registry>=<mirror>`; one untimed pull fills the pull-through cache.
    const viaMirror = ['--mirror', `${registry.host}=${mirror.url('')}`];
    await fresh();
    await ms(ctx, pullArgs(viaMirror));
    const mirrored = await best(2, async () => {
      await fresh();
      return ms(ctx, pullArgs(viaMirror));
    });
    // A node cache: the first pull fills it, the timed second takes every file from it (re-hashed).
    const cacheDir = path.join(ctx.root, 'node-cache');
    await rm(cacheDir, { recursive: true, force: true });
    await fresh();
    await ms(ctx, pullArgs(['--cache', cacheDir]));
    const cached = await best(2, async () => {
      await fresh();
      return ms(ctx, pullArgs(['--cache', cacheDir]));
    });

    ctx.rows.push(
      row('OCI pull+verify (loopback registry)', bytes, pull, `RSS target <= 150 MiB`),
      ['  vs bare curl, same 4 parallel GETs to files', '', `${download.seconds.toFixed(2)} s`, fmtRate(bytes, download.seconds), `${fmtCpu(download, bytes)}; pull at ${(pull.seconds / download.seconds).toFixed(2)}x curl's time (target <= 1.3)`],
      curlC
        ? ['  ceiling: curl + C/OpenSSL hash of each blob', '', `${curlC.seconds.toFixed(2)} s`, fmtRate(bytes, curlC.seconds), `${fmtCpu(curlC, bytes)}; pull at ${(pull.seconds / curlC.seconds).toFixed(2)}x its time`]
        : ['  ceiling: curl + C/OpenSSL hash of each blob', 'skipped: no gcc or OpenSSL headers', '', '', ''],
      ['  vs skopeo copy + sha256sum', '', `${skopeo.seconds.toFixed(2)} s`, fmtRate(bytes, skopeo.seconds), `${fmtCpu(skopeo, bytes)}; ${(skopeo.seconds / pull.seconds).toFixed(2)}x slower than the pull`],
      ['  vs local verify', '', `${local.seconds.toFixed(2)} s`, '', `pull at ${(pull.seconds / local.seconds).toFixed(2)}x local verify`],
      row('OCI pull through a local mirror (warm pull-through cache)', bytes, mirrored, `${(mirrored.seconds / pull.seconds).toFixed(2)}x the direct pull`),
      row('OCI pull, second pull from a warm node cache', bytes, cached, `${(cached.seconds / local.seconds).toFixed(2)}x local verify (every cached file re-hashed)`),
    );
    await rm(curlDir, { recursive: true, force: true });
    await rm(skopeoDir, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  } finally {
    await mirror.stop();
    await registry.stop();
  }
}
