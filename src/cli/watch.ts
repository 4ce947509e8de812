import path from 'node:path';
import { Command, Option } from 'commander';
import { ModelsealError } from '../errors.js';
import { logDecision, logger } from '../log.js';
import { readReceipt } from '../placement/receipt-file.js';
import { startHealthServer } from '../watch/health.js';
import { ByteRateLimiter, parseByteSize } from '../watch/rate.js';
import { ModelWatch } from '../watch/watcher.js';
import { addTrustFlags, type TrustFlags } from './common.js';
import { action } from './output.js';
import { resolveTrust } from '../trust/resolve.js';

interface WatchFlags extends TrustFlags {
  path: string;
  receipt?: string;
  interval: string;
  debounce: string;
  rate: string;
  listen: string;
  onFailure: 'report' | 'exit';
  ignoreUnsignedFiles?: boolean;
}

/** Read chunk, and the burst: small enough that the cap is smooth, large enough that hashing stays efficient. */
const CHUNK = 256 * 1024;

function number(v: string, flag: string, min: number, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min || Number(v) > max) throw new ModelsealError('USAGE', `${flag} must be a number from ${min} to ${max}`);
  return Number(v);
}

export function watchCommand(): Command {
  const cmd = new Command('watch')
    .description('native sidecar: re-verify the placed model against its receipt and signature on file changes and on an interval; /readyz fails after a mismatch')
    .option('--path <dir>', 'the placed model', '/models/model')
    .option('--receipt <file>', 'its receipt (default <path>.receipt.json)')
    .option('--interval <seconds>', 'full re-verification period', '300')
    .option('--debounce <seconds>', 'wait after a file event before re-hashing the changed files', '0.5')
    .option('--rate <bytes/s>', 'read-rate cap for re-hashing (e.g. 64MiB), so the server keeps its I/O', '64MiB')
    .option('--listen <host:port>', 'probe server: /healthz, /readyz, /status', '0.0.0.0:8081')
    .addOption(new Option('--on-failure <what>', 'report: stay up with /readyz failing; exit: also exit with the documented code').choices(['report', 'exit']).default('report'))
    .option('--ignore-unsigned-files', 'files added beside the model are not a failure');
  addTrustFlags(cmd, true);
  return cmd.action(action(async (f: WatchFlags) => {
    const m = /^(.*):(\d{1,5})$/.exec(f.listen);
    if (!m || Number(m[2]) > 65535) throw new ModelsealError('USAGE', `--listen must be host:port, not ${f.listen}`);
    let rate: number;
    try {
      rate = parseByteSize(f.rate);
    } catch (err) {
      throw new ModelsealError('USAGE', `--rate: ${(err as Error).message}`);
    }
    if (rate < 64 * 1024) throw new ModelsealError('USAGE', '--rate must be at least 64KiB per second');
    const receiptPath = f.receipt ?? `${path.resolve(f.path)}.receipt.json`;
    const receipt = await readReceipt(receiptPath);
    // Same trust rules as pull and init: flags, or the policy rule matching the recorded reference.
    const trust = await resolveTrust(receipt.reference, f, { overrides: { ignoreUnsignedFiles: f.ignoreUnsignedFiles } });
    const pod = { ...(process.env.POD_NAME ? { name: process.env.POD_NAME } : {}), ...(process.env.POD_NAMESPACE ? { namespace: process.env.POD_NAMESPACE } : {}) };
    const w = new ModelWatch({
      dir: f.path,
      receipt,
      authorities: trust.authorities,
      ignoreUnsignedFiles: trust.requirements.ignoreUnsignedFiles,
      intervalMs: number(f.interval, '--interval', 1, 86_400) * 1000,
      debounceMs: number(f.debounce, '--debounce', 0, 60) * 1000,
      limiter: new ByteRateLimiter(rate, CHUNK),
      chunkBytes: CHUNK,
      pod,
      log: (e) => logDecision(e),
      // The decision line is written synchronously (pino sync destination) before the exit.
      ...(f.onFailure === 'exit' ? { onFailure: (code: number) => process.exit(code) } : {}),
    });
    const health = await startHealthServer(w, m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]));
    logger().info({ port: health.port, path: f.path, receipt: receiptPath, rate }, 'modelseal watch started');
    await w.start();
    await new Promise<void>((resolve) => {
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve());
    });
    w.stop();
    await health.close();
  }));
}
