import { stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheFromFlags } from '../../src/cli/cache-options.js';
import { ociClientOptions } from '../../src/cli/oci-options.js';
import { isModelsealError } from '../../src/errors.js';
import { tempDir } from '../harness/process.js';

describe('cache and mirror flags', () => {
  it('--cache opens (and creates) a 0700 cache; the size and place flags are checked and need --cache', async () => {
    const dir = path.join(await tempDir('flags'), 'cache');
    const c = await cacheFromFlags({ cache: dir, cacheMaxSize: '1.5', cachePlace: 'copy' });
    expect(c?.dir).toBe(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await cacheFromFlags({})).toBeUndefined();
    for (const bad of [{ cacheMaxSize: '2' }, { cache: dir, cacheMaxSize: '-1' }, { cache: dir, cacheMaxSize: 'lots' }, { cache: dir, cachePlace: 'symlink' }]) {
      const err = await cacheFromFlags(bad).catch((e: unknown) => e);
      expect(isModelsealError(err, 'USAGE'), JSON.stringify(bad)).toBe(true);
    }
  });

  it('mirror flags become client options; malformed ones are usage errors', () => {
    const o = ociClientOptions({ mirror: ['r.example:5000=http://127.0.0.1:5001', '_default=https://m.example/p'], hostsDir: '/etc/containerd/certs.d', registriesConf: '/etc/containers/registries.conf', mirrorSignatures: true, mirrorStallTimeout: '5' }, {});
    expect(o.mirrors).toEqual({
      flags: [{ registry: 'r.example:5000', url: 'http://127.0.0.1:5001' }, { registry: '_default', url: 'https://m.example/p' }],
      hostsDir: '/etc/containerd/certs.d', registriesConf: '/etc/containers/registries.conf', signatures: true, stallMs: 5000,
    });
    expect(ociClientOptions({}, {}).mirrors).toBeUndefined();
    expect(() => ociClientOptions({ mirror: ['no-url'] }, {})).toThrow(/--mirror takes/);
    expect(() => ociClientOptions({ mirrorStallTimeout: '0' }, {})).toThrow(/mirror-stall-timeout/);
  });
});
