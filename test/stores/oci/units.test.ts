import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { parseChallenge } from '../../../src/stores/oci/auth.js';
import { lookupCredentials } from '../../../src/stores/oci/credentials.js';
import { fallbackTag, parseOciReference } from '../../../src/stores/oci/reference.js';
import { memberPath } from '../../../src/stores/oci/tar.js';
import { ociClientOptions } from '../../../src/cli/oci-options.js';
import { tempDir } from '../../harness/process.js';

describe('parseOciReference', () => {
  it('parses host:port, nested repos, tags and digests', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseOciReference('oci://127.0.0.1:5000/org/model:v1')).toEqual({ registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'org/model', tag: 'v1' });
    expect(parseOciReference(`oci://reg.example/m@${d}`)).toEqual({ registry: 'reg.example', apiHost: 'reg.example', repository: 'm', digest: d });
    expect(parseOciReference('ubuntu')).toMatchObject({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/ubuntu', tag: 'latest' });
    expect(parseOciReference(`localhost:5000/a/b:t@${d}`)).toMatchObject({ repository: 'a/b', tag: 't', digest: d });
  });
  it.each(['oci://h/UPPER', 'oci://h/a/../b', 'oci://h/a:bad tag', 'oci://h/a@sha256:xyz', 'oci://h/a?x=1', 'oci://h:99999/a', 'oci://h/a#frag', ''])('rejects %j', (r) => {
    let err: unknown;
    try {
      parseOciReference(r);
    } catch (e) {
      err = e;
    }
    expect(isModelsealError(err, 'REFERENCE_INVALID')).toBe(true);
  });
  it('derives fallback tags', () => {
    expect(fallbackTag(`sha256:${'b'.repeat(64)}`)).toBe(`sha256-${'b'.repeat(64)}`);
    expect(fallbackTag(`sha256:${'b'.repeat(64)}`, '.sig')).toBe(`sha256-${'b'.repeat(64)}.sig`);
  });
});

describe('WWW-Authenticate parsing', () => {
  it('handles quoted commas and both schemes', () => {
    expect(parseChallenge('Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"')).toEqual({
      scheme: 'bearer', params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x/y:pull,push' },
    });
    expect(parseChallenge('Basic realm="r"')).toEqual({ scheme: 'basic', params: { realm: 'r' } });
    expect(parseChallenge('Negotiate')).toBeUndefined();
  });
});

describe('credential discovery', () => {
  it('follows the documented order and matches registry keys exactly', async () => {
    const t = await tempDir('creds');
    const home = path.join(t, 'home');
    await mkdir(path.join(home, '.docker'), { recursive: true });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://reg.example:5000/v1/': { auth: b64('home:pw') }, 'reg.example.evil': { auth: b64('evil:pw') } } }));
    const envFile = path.join(t, 'auth.json');
    await writeFile(envFile, JSON.stringify({ auths: { 'other.example': { auth: b64('env:pw') } } }));
    const base = { homeDir: home, mountedSecretDir: path.join(t, 'none') };
    expect(await lookupCredentials('reg.example:5000', { ...base, env: { REGISTRY_AUTH_FILE: envFile } })).toEqual({ username: 'home', password: 'pw' });
    expect(await lookupCredentials('other.example', { ...base, env: { REGISTRY_AUTH_FILE: envFile } })).toEqual({ username: 'env', password: 'pw' });
    expect(await lookupCredentials('reg.example', { ...base, env: {} })).toBeUndefined();
    // A mounted Kubernetes Secret directory.
    const secret = path.join(t, 'secret');
    await mkdir(secret);
    await writeFile(path.join(secret, '.dockerconfigjson'), JSON.stringify({ auths: { 'k8s.example': { username: 'k', password: 'p' } } }));
    expect(await lookupCredentials('k8s.example', { homeDir: home, env: {}, mountedSecretDir: secret })).toEqual({ username: 'k', password: 'p' });
  });

  it('runs docker-credential helpers (identity token when Username is <token>)', async () => {
    const t = await tempDir('helper');
    const bin = path.join(t, 'bin');
    await mkdir(bin);
    const helper = path.join(bin, 'docker-credential-fake');
    await writeFile(helper, '#!/bin/sh\nread url\nif [ "$url" = "tok.example" ]; then echo \'{"ServerURL":"tok.example","Username":"<token>","Secret":"refresh"}\'; exit 0; fi\nif [ "$url" = "pw.example" ]; then echo \'{"ServerURL":"pw.example","Username":"u","Secret":"s"}\'; exit 0; fi\necho "credentials not found in native keychain"; exit 1\n');
    await chmod(helper, 0o755);
    const cfg = path.join(t, 'config.json');
    await writeFile(cfg, JSON.stringify({ credHelpers: { 'tok.example': 'fake' }, credsStore: 'fake' }));
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const o = { authFile: cfg, env, homeDir: t, mountedSecretDir: path.join(t, 'none') };
    expect(await lookupCredentials('tok.example', o)).toEqual({ identityToken: 'refresh' });
    expect(await lookupCredentials('pw.example', o)).toEqual({ username: 'u', password: 's' });
    expect(await lookupCredentials('miss.example', o)).toBeUndefined();
  });

  it('an explicit auth file that does not exist is an error', async () => {
    const err = await lookupCredentials('x', { authFile: '/nonexistent/auth.json', env: {} }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('tar member paths', () => {
  it('normalises ./ and refuses traversal, absolute, backslash', () => {
    expect(memberPath('./a/b', 'l')).toBe('a/b');
    for (const bad of ['../a', 'a/../../b', '/etc/x', 'C:/x', 'a\\b']) expect(() => memberPath(bad, 'l')).toThrow(/ARCHIVE|tar layer/);
  });
});

describe('OCI CLI options', () => {
  it('maps flags and refuses a password on argv', () => {
    expect(ociClientOptions({ plainHttp: true, caFile: '/ca.pem', registryRetries: '2' }, {})).toMatchObject({ plainHttp: true, caFile: '/ca.pem', retries: 2 });
    expect(ociClientOptions({ insecureHttp: true }, {})).toMatchObject({ plainHttp: true });
    expect(ociClientOptions({ parallelRanges: '6' }, {})).toMatchObject({ rangedMinBytes: 256 * 1024 * 1024, rangeSlots: 6 });
    expect(ociClientOptions({ parallelRanges: '1' }, {}).rangedMinBytes).toBeUndefined();
    expect(() => ociClientOptions({ parallelRanges: '0' }, {})).toThrow(/--parallel-ranges must be an integer from 1 to 32/);
    expect(() => ociClientOptions({ registryUsername: 'u' }, {})).toThrow(/MODELSEAL_REGISTRY_PASSWORD/);
    expect(ociClientOptions({ registryUsername: 'u' }, { MODELSEAL_REGISTRY_PASSWORD: 'p' }).credentials).toEqual({ username: 'u', password: 'p' });
  });
});
