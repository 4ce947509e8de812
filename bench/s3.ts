import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startSwift } from '../test/harness/swift.js';
import { ms, type BenchContext, type Prepared } from './local.js';
import { best, fmtCpu, fmtRate, pullRows, sumRuns, timed, type Run } from './measure.js';

/**
 * Pull+verify from a loopback S3 store (OpenStack Swift s3api: real SigV4, on disk) against
 * (a) local verify and (b) `aws s3 cp --recursive` followed by `sha256sum`.
 */
export async function benchS3(ctx: BenchContext, model: Prepared, local: Run): Promise<void> {
  // One server process per core for the proxy and object servers, as Swift is deployed: with
  // the single-process test default, the Python server alone sets every client's speed.
  const swift = await startSwift({ workers: ctx.cores });
  try {
    const env: NodeJS.ProcessEnv = {
      ...ctx.env,
      AWS_ACCESS_KEY_ID: swift.accessKeyId,
      AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
      AWS_REGION: swift.region,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    delete env.AWS_CA_BUNDLE;
    const s3 = new S3Client({
      endpoint: swift.endpoint,
      region: swift.region,
      forcePathStyle: true,
      credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    s3.destroy();
    const flags = ['--s3-endpoint', swift.endpoint, '--s3-force-path-style'];
    const url = 's3://bench/model';
    const run = (args: string[]) => timed(ctx.cli[0]!, [...ctx.cli.slice(1), ...args], env);
    await run(['publish', model.multiDir, url, '--sign', 'key', '--private-key', `${ctx.keyPrefix}.key`, ...flags]);
    const into = path.join(ctx.root, 's3-pulled');
    const pull = await best(3, async () => {
      await rm(into, { recursive: true, force: true });
      await rm(`${into}.receipt.json`, { force: true });
      return run(['pull', url, '--into', into, '--public-key', `${ctx.keyPrefix}.pub`, ...flags]);
    });
    const awsDir = path.join(ctx.root, 'aws-out');
    let download: Run | undefined;
    const baseline = await best(2, async () => {
      await rm(awsDir, { recursive: true, force: true });
      const cp = await timed('aws', ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', swift.endpoint, url, awsDir], env);
      if (!download || cp.seconds < download.seconds) download = cp;
      const files = model.multiFiles.map((f) => path.join(awsDir, path.basename(f)));
      const sum = await timed('sha256sum', files);
      return sumRuns(cp, sum);
    });
    ctx.rows.push(...pullRows('S3 pull+verify (loopback Swift s3api)', model.totalBytes, pull, local, baseline, 'aws s3 cp --recursive + sha256sum', 1.2));
    // The download alone, no hashing: how fast this server hands out the bytes to any client.
    ctx.rows.push(['  floor: aws s3 cp alone (no hashing)', '', `${download!.seconds.toFixed(2)} s`, fmtRate(model.totalBytes, download!.seconds), `${fmtCpu(download!, model.totalBytes)}; pull at ${(pull.seconds / download!.seconds).toFixed(2)}x its time (target <= 1.0); pull ${fmtCpu(pull, model.totalBytes)}`]);
    await rm(awsDir, { recursive: true, force: true });
  } finally {
    await swift.stop();
  }
}
