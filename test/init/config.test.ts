import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInitConfig, resolveInitConfig, settingsFromEnv, settingsFromFile, settingsFromFlags } from '../../src/init/config.js';
import { tempDir } from '../harness/process.js';

const never = () => false;

describe('init config', () => {
  it('reads MODELSEAL_* env and the downward-API pod fields', async () => {
    const cfg = await loadInitConfig(
      {},
      {
        MODELSEAL_SOURCE: 'oci://127.0.0.1:5000/models/tiny:v1',
        MODELSEAL_PUBLIC_KEY: '/etc/modelseal/keys/release.pub',
        MODELSEAL_INTO: '/models/tiny',
        MODELSEAL_PLAIN_HTTP: 'true',
        MODELSEAL_CONCURRENCY: '8',
        MODELSEAL_REGISTRY_AUTH_FILE: '/var/run/secrets/modelseal/registry/.dockerconfigjson',
        POD_NAME: 'llm-7d9f',
        POD_NAMESPACE: 'serving',
        PATH: '/usr/bin',
      },
      never,
    );
    expect(cfg).toEqual({
      source: 'oci://127.0.0.1:5000/models/tiny:v1',
      mode: 'pull',
      into: '/models/tiny',
      trust: { publicKey: '/etc/modelseal/keys/release.pub', certChain: [] },
      ignoreUnsignedFiles: false,
      concurrency: 8,
      timeoutMs: 2 * 60 * 60_000,
      registry: { authFile: '/var/run/secrets/modelseal/registry/.dockerconfigjson', plainHttp: true },
      s3: { forcePathStyle: false },
      pod: { name: 'llm-7d9f', namespace: 'serving' },
    });
  });

  it('defaults: pull mode into /models/model; no pod fields without the downward API', () => {
    const cfg = resolveInitConfig([{ source: 's3://bucket/m', policy: '/p.yaml' }], {});
    expect(cfg.mode).toBe('pull');
    expect(cfg.into).toBe('/models/model');
    expect(cfg.pod).toEqual({});
    expect(cfg.receipt).toBeUndefined();
    expect(cfg.timeoutMs).toBe(2 * 60 * 60_000);
  });

  it('deadlines: MODELSEAL_TIMEOUT and MODELSEAL_STALL_TIMEOUT take durations; anything else names the variable', () => {
    const cfg = resolveInitConfig([{ source: 's3://b/m', policy: '/p' }, settingsFromEnv({ MODELSEAL_TIMEOUT: '30m', MODELSEAL_STALL_TIMEOUT: '45s' })], {});
    expect(cfg.timeoutMs).toBe(30 * 60_000);
    expect(cfg.stallMs).toBe(45_000);
    expect(settingsFromFile('timeout: 90\n', 'c.yaml').timeout).toBe(90_000);
    for (const bad of ['0', 'forever', '-5s', '2d', '9999h']) {
      expect(() => settingsFromEnv({ MODELSEAL_TIMEOUT: bad })).toThrow(/MODELSEAL_TIMEOUT must be a duration/);
    }
  });

  it('verify-in-place with only MODELSEAL_PATH: the mounted directory is the source (the README recipe)', () => {
    const cfg = resolveInitConfig([settingsFromEnv({ MODELSEAL_MODE: 'verify-in-place', MODELSEAL_PATH: '/models/model', MODELSEAL_PUBLIC_KEY: '/k.pub' })], {});
    expect(cfg).toMatchObject({ source: '/models/model', mode: 'verify-in-place', path: '/models/model' });
  });

  it('layers: flags over env over the config file', async () => {
    const dir = await tempDir('init-cfg');
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, 'source: oci://reg/a:file\ninto: /models/from-file\npublicKey: /file.pub\nconcurrency: 2\n');
    const cfg = await loadInitConfig(
      { config: file, into: '/models/from-flag' },
      { MODELSEAL_SOURCE: 'oci://reg/a:env', MODELSEAL_INTO: '/models/from-env' },
      never,
    );
    expect(cfg.source).toBe('oci://reg/a:env');
    expect(cfg.into).toBe('/models/from-flag');
    expect(cfg.trust.publicKey).toBe('/file.pub');
    expect(cfg.concurrency).toBe(2);
  });

  it('finds the config file through MODELSEAL_CONFIG', async () => {
    const dir = await tempDir('init-cfg');
    const file = path.join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ source: '/models/mounted', mode: 'verify-in-place', certChain: ['/a.pem', '/b.pem'] }));
    const cfg = await loadInitConfig({}, { MODELSEAL_CONFIG: file }, never);
    expect(cfg.mode).toBe('verify-in-place');
    expect(cfg.path).toBe('/models/mounted');
    expect(cfg.trust.certChain).toEqual(['/a.pem', '/b.pem']);
  });

  it('uses /etc/modelseal/config.yaml only when it exists', async () => {
    await expect(loadInitConfig({}, { MODELSEAL_SOURCE: 'oci://r/m:1', MODELSEAL_POLICY: '/p' }, never)).resolves.toMatchObject({ policy: '/p' });
    await expect(loadInitConfig({}, { MODELSEAL_SOURCE: 'oci://r/m:1', MODELSEAL_POLICY: '/p' }, (p) => p === '/etc/modelseal/config.yaml')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('/etc/modelseal/config.yaml'),
    });
  });

  it('rejects an unknown MODELSEAL_* variable (a typo must not drop a check)', () => {
    expect(() => settingsFromEnv({ MODELSEAL_PUBLICKEY: '/k.pub' })).toThrow(/unknown environment variable MODELSEAL_PUBLICKEY/);
    expect(settingsFromEnv({ MODELSEAL_LOG_LEVEL: 'debug', MODELSEAL_CONFIG: '/c', HOME: '/root' })).toEqual({});
  });

  it('names the line of an unknown key or a wrong type in the config file', () => {
    expect(() => settingsFromFile('source: oci://r/m:1\npublic_key: /k.pub\n', 'cfg.yaml')).toThrow(/cfg\.yaml:2: unknown setting "public_key"/);
    expect(() => settingsFromFile('source: oci://r/m:1\nconcurrency: lots\n', 'cfg.yaml')).toThrow(/cfg\.yaml:2: concurrency: expected an integer/);
    expect(() => settingsFromFile('source: oci://r/m:1\nplainHttp: yes please\n', 'cfg.yaml')).toThrow(/cfg\.yaml:2: plainHttp: expected true or false/);
    expect(() => settingsFromFile('mode: fast\n', 'cfg.yaml')).toThrow(/cfg\.yaml:1: mode: expected pull or verify-in-place/);
    expect(() => settingsFromFile('- a\n- b\n', 'cfg.yaml')).toThrow(/must be a mapping/);
    expect(() => settingsFromFile('source: [unclosed\n', 'cfg.yaml')).toThrow(/cfg\.yaml:/);
    expect(() => settingsFromFile('source: a\nsource: b\n', 'cfg.yaml')).toThrow(/cfg\.yaml:2/);
    expect(settingsFromFile('', 'empty.yaml')).toEqual({});
  });

  it('takes credentials only as file paths: there is no setting for a password or token', () => {
    for (const key of ['password', 'token', 'username', 'awsSecretAccessKey', 'auth']) {
      expect(() => settingsFromFile(`${key}: hunter2\n`, 'c.yaml')).toThrow(/unknown setting/);
    }
    expect(() => settingsFromEnv({ MODELSEAL_REGISTRY_PASSWORD: 'hunter2' })).toThrow(/not accepted by init: mount credentials as a file/);
    expect(() => settingsFromEnv({ MODELSEAL_REGISTRY_TOKEN: 'hunter2' })).toThrow(/unknown environment variable/);
    try {
      settingsFromEnv({ MODELSEAL_REGISTRY_PASSWORD: 'hunter2' });
    } catch (err) {
      expect(String(err)).not.toContain('hunter2');
    }
  });

  it('validates flag values like env values', () => {
    expect(settingsFromFlags({ concurrency: '3', certChain: ['/a.pem', '/b.pem'], plainHttp: true, json: true })).toEqual({
      concurrency: 3,
      certChain: ['/a.pem', '/b.pem'],
      plainHttp: true,
    });
    expect(() => settingsFromFlags({ concurrency: '0' })).toThrow(/--concurrency: expected an integer from 1 to 256/);
  });

  it('refuses incomplete or contradictory settings', () => {
    expect(() => resolveInitConfig([{ publicKey: '/k' }], {})).toThrow(/no model source/);
    expect(() => resolveInitConfig([{ source: 'oci://r/m:1' }], {})).toThrow(/no trust configured/);
    expect(() => resolveInitConfig([{ source: 'oci://r/m:1', policy: '/p', publicKey: '/k' }], {})).toThrow(/either a policy or trust flags/);
    expect(() => resolveInitConfig([{ source: 'oci://r/m:1', publicKey: '/k', mode: 'verify-in-place' }], {})).toThrow(/MODELSEAL_PATH/);
    expect(() => resolveInitConfig([{ source: 'oci://r/m:1', publicKey: '/k', path: '/models/x' }], {})).toThrow(/only for verify-in-place/);
    const inPlace = resolveInitConfig([{ source: 'oci://r/m:1', publicKey: '/k', mode: 'verify-in-place', path: '/models/image' }], {});
    expect(inPlace.path).toBe('/models/image');
  });
});
