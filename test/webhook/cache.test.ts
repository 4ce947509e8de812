import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingChecker } from '../../src/webhook/cache.js';
import { ociModelChecker, type ModelChecker } from '../../src/webhook/checker.js';
import { startWebhookWorld, type WebhookWorld } from './world.js';

/**
 * The decision cache in front of the real checker (registry + policy): counted by delegating
 * calls, never by time. The clock is injected so expiry is a fact, not a wait.
 */
let world: WebhookWorld;
beforeAll(async () => {
  world = await startWebhookWorld();
});
afterAll(async () => world?.stop());

function counted(inner: ModelChecker): ModelChecker & { resolves: number; checks: number } {
  const c = {
    resolves: 0,
    checks: 0,
    resolve: (r: string) => (c.resolves++, inner.resolve(r)),
    check: (p: string, pol: string) => (c.checks++, inner.check(p, pol)),
  };
  return c;
}

describe('CachingChecker', () => {
  let now = 0;
  const setup = () => {
    const inner = counted(ociModelChecker({ plainHttp: true, env: {} }));
    const cache = new CachingChecker(inner, world.trustDir, { decisionTtlMs: 60_000, tagTtlMs: 5_000, maxEntries: 16, now: () => now });
    return { inner, cache, policy: path.join(world.trustDir, 'default.yaml') };
  };

  it('verifies a digest once; later admissions of it are answered from the cache until the TTL ends', async () => {
    const { inner, cache, policy } = setup();
    const { pinned } = await cache.resolve(world.refs.good);
    const first = await cache.check(pinned, policy);
    const second = await cache.check(pinned, policy);
    expect(second).toEqual(first);
    expect(inner.checks).toBe(1);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
    // Tags are re-resolved after their own, shorter TTL.
    await cache.resolve(world.refs.good);
    expect(inner.resolves).toBe(1);
    now += 5_001;
    await cache.resolve(world.refs.good);
    expect(inner.resolves).toBe(2);
    now += 60_000;
    await cache.check(pinned, policy);
    expect(inner.checks).toBe(2);
  });

  it('concurrent admissions of one digest share one verification', async () => {
    const { inner, cache, policy } = setup();
    const { pinned } = await cache.resolve(world.refs.good);
    const all = await Promise.all(Array.from({ length: 5 }, () => cache.check(pinned, policy)));
    expect(new Set(all.map((c) => c.digest)).size).toBe(1);
    expect(inner.checks).toBe(1);
  });

  it('a refusal on the bytes is remembered; a change in the trust directory forgets everything', async () => {
    const { inner, cache, policy } = setup();
    const { pinned } = await cache.resolve(world.refs.unsigned);
    await expect(cache.check(pinned, policy)).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
    await expect(cache.check(pinned, policy)).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
    expect(inner.checks).toBe(1);
    await writeFile(path.join(world.trustDir, 'extra-note.txt'), 'rotated\n');
    await expect(cache.check(pinned, policy)).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
    expect(inner.checks).toBe(2);
  });

  it('a failure to read the source is never remembered', async () => {
    const { inner, cache, policy } = setup();
    // In the policy's scope, but not in the registry: NOT_FOUND (exit 7) says nothing about the bytes.
    const ref = `oci://${world.registry.host}/models/missing@sha256:${'1'.repeat(64)}`;
    await expect(cache.check(ref, policy)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(cache.check(ref, policy)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(inner.checks).toBe(2);
    expect(cache.entries).toBe(0);
  });
});
