import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { manifestDifference } from '../app/audit.js';
import { exitCodeFor, isModelsealError, ModelsealError, oneLine, type ExitCodeValue } from '../errors.js';
import { formatSigner, INIT_EVENT_TYPE } from '../init/decision.js';
import type { DecisionEvent } from '../log.js';
import { isIgnored } from '../model/names.js';
import { mapSingleFileNames } from '../model/plan.js';
import { modelScope } from '../model/scope.js';
import type { Manifest } from '../model/types.js';
import { listModelFiles } from '../model/walk.js';
import type { Receipt } from '../placement/receipt.js';
import type { Authority } from '../signatures/core/types.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';
import type { ByteRateLimiter } from './rate.js';
import { expectedByFile, rehashFile, type Expected, type FileMismatch } from './rehash.js';

/**
 * `modelseal watch`: continuous verification of a placed model. Ready only while the receipt's
 * bundle verifies under today's trust, signs exactly what the receipt records, and every placed
 * file still hashes to it. A change seen by the file watcher re-hashes that file first (after
 * `debounceMs`); a full pass runs every `intervalMs` for changes the watcher cannot see. Once
 * failed it stays failed ("once ready, stay ready" is the bug this fixes): only a new pod clears it.
 */
export interface WatchOptions {
  dir: string;
  receipt: Receipt;
  authorities: Authority[];
  ignoreUnsignedFiles: boolean;
  intervalMs: number;
  debounceMs: number;
  limiter: ByteRateLimiter;
  chunkBytes: number;
  pod: { name?: string; namespace?: string };
  log: (e: DecisionEvent) => void;
  /** Called once, on the first failure, with the documented exit code. */
  onFailure?: (exitCode: ExitCodeValue) => void;
}

export type WatchState = 'starting' | 'ready' | 'failed';

export interface PassReport {
  kind: 'full' | 'changed';
  files: number;
  bytes: number;
}

export class ModelWatch {
  state: WatchState = 'starting';
  failure?: { reason: string; code: string; file?: string };
  /** Completed passes, newest last (bounded). */
  readonly passes: PassReport[] = [];
  private readonly expected: Map<string, Expected>;
  private readonly ignores: string[];
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private readonly changed = new Set<string>();
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: WatchOptions) {
    this.expected = expectedByFile(o.receipt);
    // The signer's scope, as audit uses it (checkSignature proves the receipt restates the bundle).
    this.ignores = [...modelScope({ signed: o.receipt.model.serialization.ignorePaths }).ignores];
  }

  /** First full pass, then the watcher and the interval. Resolves once the first pass finished. */
  async start(): Promise<void> {
    this.watcher = watch(this.o.dir, { recursive: true, persistent: false }, (_event, name) => {
      if (name === null || this.state === 'failed') return;
      this.changed.add(name.toString().split(path.sep).join('/'));
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.enqueue(() => this.changedPass()), this.o.debounceMs);
    });
    this.watcher.on('error', (err) => this.fail(new ModelsealError('IO', `file watcher stopped: ${oneLine(err)}`)));
    await this.enqueue(() => this.fullPass());
    if (this.state === 'starting') this.state = 'ready';
    this.timer = setInterval(() => void this.enqueue(() => this.fullPass()), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Passes run one after another; a failure in one ends the watch. */
  private enqueue(pass: () => Promise<void>): Promise<void> {
    this.running = this.running.then(async () => {
      if (this.stopped || this.state === 'failed') return;
      try {
        await pass();
      } catch (err) {
        this.fail(err);
      }
    });
    return this.running;
  }

  /** The recorded bundle still verifies and still signs exactly the recorded resources. */
  private async checkSignature(): Promise<void> {
    const r = this.o.receipt;
    const bundle = Buffer.from(r.signature.bundle, 'utf8');
    if (createHash('sha256').update(bundle).digest('hex') !== r.signature.bundleSha256) {
      throw new ModelsealError('BUNDLE_INVALID', 'the receipt\'s bundle does not hash to its recorded bundleSha256 (receipt edited)');
    }
    const verified = await verifyModelSignature(bundle, this.o.authorities);
    const recorded: Manifest = { modelName: r.model.name, serialization: r.model.serialization, resources: r.model.resources };
    const only = r.model.files.length === 1 ? r.model.files[0]!.path : undefined;
    const why = manifestDifference(only ? mapSingleFileNames(verified.manifest, only) : verified.manifest, recorded, verified.rootDigest, r.model.rootDigest);
    if (why) throw new ModelsealError('MANIFEST_INCONSISTENT', `the receipt does not record what its signature signs: ${why}`);
  }

  private async checkFileSet(): Promise<void> {
    const files = await listModelFiles(this.o.dir, { allowSymlinks: false, ignorePaths: this.ignores });
    const present = new Set(files.map((f) => f.rel));
    const missing = [...this.expected.keys()].filter((p) => !present.has(p));
    if (missing.length) throw new ModelsealError('FILE_MISSING', `missing since placement: ${missing.slice(0, 5).join(', ')}`, { details: { file: missing[0] } });
    const extra = [...present].filter((p) => !this.expected.has(p));
    if (extra.length && !this.o.ignoreUnsignedFiles) throw new ModelsealError('FILE_UNSIGNED', `added since placement: ${extra.slice(0, 5).join(', ')}`, { details: { file: extra[0] } });
  }

  private async rehash(paths: string[], kind: PassReport['kind']): Promise<void> {
    const before = this.o.limiter.grantedBytes;
    const alg = this.o.receipt.model.serialization.hashType;
    for (const p of paths) {
      if (this.stopped) return;
      const bad = await rehashFile(this.o.dir, p, this.expected.get(p)!, alg, this.o.limiter, this.o.chunkBytes);
      if (bad) throw mismatch(bad);
    }
    this.passes.push({ kind, files: paths.length, bytes: this.o.limiter.grantedBytes - before });
    if (this.passes.length > 100) this.passes.shift();
  }

  private async fullPass(): Promise<void> {
    await this.checkSignature();
    await this.checkFileSet();
    await this.rehash([...this.expected.keys()], 'full');
  }

  /** The files the watcher named (and anything under a named directory) first, then the file set. */
  private async changedPass(): Promise<void> {
    const names = [...this.changed];
    this.changed.clear();
    const touched = [...this.expected.keys()].filter((p) => names.some((n) => p === n || p.startsWith(`${n}/`)));
    await this.checkFileSet();
    if (names.every((n) => isIgnored(n, this.ignores)) && touched.length === 0) return;
    await this.rehash(touched, 'changed');
  }

  private fail(err: unknown): void {
    if (this.state === 'failed' || this.stopped) return;
    this.state = 'failed';
    const code = isModelsealError(err) ? err.code : 'INTERNAL';
    const details = isModelsealError(err) ? err.details : {};
    const r = this.o.receipt;
    const file = typeof details.file === 'string' ? details.file : undefined;
    this.failure = { reason: oneLine(err), code, ...(file ? { file } : {}) };
    // Unknown values are null, not absent, as in the init container's line.
    const line: Record<string, unknown> = {
      event_type: INIT_EVENT_TYPE,
      outcome: 'blocked',
      pod_name: this.o.pod.name ?? null,
      namespace: this.o.pod.namespace ?? null,
      model: r.reference,
      mode: 'watch',
      placed_at: path.resolve(this.o.dir),
      file: file ?? null,
      expected_digest: typeof details.expected === 'string' ? details.expected : null,
      actual_digest: typeof details.actual === 'string' ? details.actual : null,
      resolved_digest: r.resolvedDigest ?? null,
      root_digest: r.model.rootDigest ?? null,
      signer: formatSigner(r.signer),
      reason: oneLine(err),
      code,
      exit_code: exitCodeFor(err),
    };
    this.o.log(line as DecisionEvent);
    this.stop();
    this.o.onFailure?.(exitCodeFor(err));
  }
}

function mismatch(m: FileMismatch): ModelsealError {
  const code = m.expected.endsWith('bytes') ? 'SIZE_MISMATCH' : 'DIGEST_MISMATCH';
  return new ModelsealError(code, `${m.resource} changed since placement: ${m.expected} signed, ${m.actual} now`, { details: { file: m.file, expected: m.expected, actual: m.actual } });
}
