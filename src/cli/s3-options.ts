import type { Command } from 'commander';
import { ModelsealError } from '../errors.js';
import type { S3Options } from '../stores/s3/options.js';

/** The S3 flags as commander hands them over (camel-cased). */
export interface S3Flags {
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  requireObjectLock?: boolean;
  s3PartSize?: string;
  s3ParallelParts?: string;
}

/** Add the S3 connection flags to a command that takes s3:// references. Credentials: AWS SDK default chain only. */
export function addS3Flags(cmd: Command): Command {
  return cmd
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (MinIO, Ceph, Swift s3api, …); default AWS')
    .option('--s3-region <region>', 'S3 region (default: AWS_REGION / profile; us-east-1 with --s3-endpoint)')
    .option('--s3-force-path-style', 'address buckets as <endpoint>/<bucket> (most non-AWS stores need this)')
    .option('--require-object-lock', 'refuse S3 objects without an Object Lock retention period or legal hold')
    .option('--s3-part-size <MiB>', 'ranged GET size in MiB (default 64); larger suits stores where each range costs a whole-object read')
    .option('--s3-parallel-parts <n>', 'ranged GETs in flight across the whole pull (default 2, within a 150 MiB RSS budget); raise it on AWS for throughput');
}

/** Parse the flags once at the edge. (`--require-object-lock` is a trust requirement: src/trust/resolve.ts.) */
export function s3OptionsFromFlags(flags: S3Flags | Record<string, unknown>): S3Options {
  const f = flags as Record<string, unknown>;
  const opts: S3Options = {};
  const endpoint = f.s3Endpoint;
  if (endpoint !== undefined) {
    if (typeof endpoint !== 'string') throw new ModelsealError('USAGE', '--s3-endpoint takes a URL');
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new ModelsealError('USAGE', `--s3-endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ModelsealError('USAGE', '--s3-endpoint must be an http:// or https:// URL');
    if (u.username || u.password) throw new ModelsealError('USAGE', '--s3-endpoint must not embed credentials; use the AWS credential chain');
    opts.endpoint = endpoint;
  }
  const region = f.s3Region;
  if (region !== undefined) {
    if (typeof region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(region)) throw new ModelsealError('USAGE', `--s3-region ${JSON.stringify(region)} is not a region name`);
    opts.region = region;
  }
  if (f.s3ForcePathStyle === true) opts.forcePathStyle = true;
  const part = f.s3PartSize;
  if (part !== undefined) {
    const mib = Number(part);
    if (!Number.isInteger(mib) || mib < 1 || mib > 4096) throw new ModelsealError('USAGE', '--s3-part-size must be a whole number of MiB, 1..4096');
    opts.partSize = mib * 1024 * 1024;
  }
  const parallel = f.s3ParallelParts;
  if (parallel !== undefined) {
    const n = Number(parallel);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new ModelsealError('USAGE', '--s3-parallel-parts must be a whole number, 1..64');
    opts.parallelParts = n;
  }
  return opts;
}
