import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, exitCodeFor, ModelsealError } from '../errors.js';
import type { ModelCheck, ModelChecker } from './checker.js';

/**
 * Admission must answer well inside the apiserver's timeout, so a verified (or refused) digest
 * is remembered. The key is the pinned reference plus a fingerprint of the trust directory
 * (policy and the keys it names): editing trust invalidates every entry at once. Tags are
 * mutable and only remembered for `tagTtlMs`; failures that are not a verdict on the bytes
 * (network, bad configuration) are never remembered.
 */
export interface CacheOptions {
  decisionTtlMs: number;
  tagTtlMs: number;
  maxEntries: number;
  now?: () => number;
}

type Verdict = { ok: true; check: ModelCheck } | { ok: false; error: ModelsealError };

const CACHEABLE_REFUSALS = new Set<number>([ExitCode.SIGNATURE, ExitCode.DIGEST_MISMATCH, ExitCode.FILE_SET, ExitCode.POLICY, ExitCode.UNSAFE_CONTENT]);

class Ttl<V> {
  private readonly m = new Map<string, { v: V; until: number }>();
  constructor(private readonly max: number) {}
  get(k: string, now: number): V | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    if (e.until <= now) {
      this.m.delete(k);
      return undefined;
    }
    // Map order is insertion order: re-insert so eviction drops the least recently used.
    this.m.delete(k);
    this.m.set(k, e);
    return e.v;
  }
  set(k: string, v: V, until: number): void {
    this.m.delete(k);
    this.m.set(k, { v, until });
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
  }
  get size(): number {
    return this.m.size;
  }
}

/** Names, sizes and change times of the files in the trust directory (ConfigMap updates swap them). */
export async function trustFingerprint(dir: string): Promise<string> {
  const h = createHash('sha256');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('..')).sort();
  for (const n of names) {
    const st = await stat(path.join(dir, n)).catch(() => undefined);
    if (st?.isFile()) h.update(`${n}\0${st.size}\0${st.mtimeMs}\0${st.ino}\n`);
  }
  return h.digest('hex');
}

export interface CacheStats {
  hits: number;
  misses: number;
  tagHits: number;
  entries: number;
}

export class CachingChecker implements ModelChecker {
  private readonly tags: Ttl<{ digest: string; pinned: string }>;
  private readonly verdicts: Ttl<Verdict>;
  private readonly inflight = new Map<string, Promise<ModelCheck>>();
  private readonly now: () => number;
  readonly stats = { hits: 0, misses: 0, tagHits: 0 };

  constructor(
    private readonly inner: ModelChecker,
    private readonly trustDir: string,
    private readonly o: CacheOptions,
  ) {
    this.tags = new Ttl(o.maxEntries);
    this.verdicts = new Ttl(o.maxEntries);
    this.now = o.now ?? Date.now;
  }

  async resolve(reference: string): Promise<{ digest: string; pinned: string }> {
    const hit = this.tags.get(reference, this.now());
    if (hit) {
      this.stats.tagHits++;
      return hit;
    }
    const r = await this.inner.resolve(reference);
    if (this.o.tagTtlMs > 0) this.tags.set(reference, r, this.now() + this.o.tagTtlMs);
    return r;
  }

  async check(pinned: string, policyPath: string): Promise<ModelCheck> {
    const key = `${pinned}\0${policyPath}\0${await trustFingerprint(this.trustDir)}`;
    const hit = this.verdicts.get(key, this.now());
    if (hit) {
      this.stats.hits++;
      if (hit.ok) return hit.check;
      throw hit.error;
    }
    // Replicas of one Deployment arrive together: one verification answers all of them.
    const running = this.inflight.get(key);
    if (running) return running;
    this.stats.misses++;
    const p = (async () => {
      try {
        const check = await this.inner.check(pinned, policyPath);
        this.verdicts.set(key, { ok: true, check }, this.now() + this.o.decisionTtlMs);
        return check;
      } catch (err) {
        if (err instanceof ModelsealError && CACHEABLE_REFUSALS.has(exitCodeFor(err))) {
          this.verdicts.set(key, { ok: false, error: err }, this.now() + this.o.decisionTtlMs);
        }
        throw err;
      } finally {
        this.inflight.delete(key);
      }
    })();
    this.inflight.set(key, p);
    return p;
  }

  get entries(): number {
    return this.verdicts.size;
  }
}
