import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../../src/errors.js';
import { containerdMirrors, hostDir } from '../../../src/stores/mirrors/hosts-toml.js';
import { registriesConfMirrors } from '../../../src/stores/mirrors/registries-conf.js';
import { mirrorsFor, parseMirrorFlag } from '../../../src/stores/mirrors/resolve.js';
import { parseGoDuration } from '../../../src/stores/mirrors/urls.js';
import { parseOciReference } from '../../../src/stores/oci/reference.js';
import { tempDir } from '../../harness/process.js';

async function put(file: string, text: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

const REF = { registry: 'registry.example.com:5000', apiHost: 'registry.example.com:5000', repository: 'models/llama' };

/** hosts.toml files in containerd's documented format (docs/hosts.md), read as containerd reads them. */
describe('containerd hosts.toml', () => {
  it('lists [host] mirrors in file order with their API roots, then a server that is not the registry', async () => {
    const root = await tempDir('certs.d');
    const file = await put(path.join(root, 'registry.example.com_5000_', 'hosts.toml'), [
      'server = "https://upstream.example.com"',
      '',
      '[host."http://127.0.0.1:30020"]',
      '  capabilities = ["pull"]',
      "  dial_timeout = '200ms'",
      '',
      '[host."https://mirror.internal/v2/proxy-project"]',
      '  capabilities = ["pull", "resolve"]',
      '  override_path = true',
      '  ca = "certs/mirror.pem"',
      '  [host."https://mirror.internal/v2/proxy-project".header]',
      '    x-custom = "v"',
      '    x-multi = ["a", "b"]',
      '',
      '[host."https://pushonly.internal"]',
      '  capabilities = ["push"]',
      '',
      '[host."plain.internal:8443/prefix"]',
    ].join('\n'));
    const ms = await containerdMirrors(root, REF);
    expect(ms.map((m) => m.apiRoot)).toEqual([
      'http://127.0.0.1:30020/v2',
      'https://mirror.internal/v2/proxy-project',
      'https://plain.internal:8443/prefix/v2',
      'https://upstream.example.com/v2',
    ]);
    expect(ms[0]).toMatchObject({ registry: '127.0.0.1:30020', repository: 'models/llama', ns: 'registry.example.com:5000', dialTimeoutMs: 200 });
    expect(ms[1]).toMatchObject({ caFiles: [path.join(root, 'registry.example.com_5000_', 'certs/mirror.pem')], headers: { 'x-custom': 'v', 'x-multi': 'a, b' } });
    expect([...ms[1]!.capabilities].sort()).toEqual(['pull', 'resolve']);
    // Capabilities omitted: all of them, as in containerd.
    expect([...ms[2]!.capabilities].sort()).toEqual(['pull', 'resolve']);
    expect(ms.every((m) => m.from === `hosts.toml ${file}`)).toBe(true);
  });

  it('looks up H_P_/, then H:P/, then _default/, under each config root in order', async () => {
    const a = await tempDir('certs-a');
    const b = await tempDir('certs-b');
    await put(path.join(b, '_default', 'hosts.toml'), '[host."http://default.mirror"]\n');
    expect(await hostDir(`${a}:${b}`, 'registry.example.com:5000')).toBe(path.join(b, '_default'));
    await put(path.join(b, 'registry.example.com:5000', 'hosts.toml'), '[host."http://colon.mirror"]\n');
    expect(await hostDir(`${a}:${b}`, 'registry.example.com:5000')).toBe(path.join(b, 'registry.example.com:5000'));
    await put(path.join(b, 'registry.example.com_5000_', 'hosts.toml'), '[host."http://underscore.mirror"]\n');
    expect(await hostDir(`${a}:${b}`, 'registry.example.com:5000')).toBe(path.join(b, 'registry.example.com_5000_'));
    // An earlier root wins even with only _default.
    await put(path.join(a, '_default', 'hosts.toml'), '[host."http://first-root.mirror"]\n');
    expect((await containerdMirrors(`${a}:${b}`, REF)).map((m) => m.apiRoot)).toEqual(['http://first-root.mirror/v2']);
    // docker.io references use the docker.io directory; the default upstream is not a mirror, and no ns is sent.
    await put(path.join(a, 'docker.io', 'hosts.toml'), "server = 'https://registry-1.docker.io'\n[host.'http://10.0.0.1:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n");
    const hub = await containerdMirrors(a, { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/x' });
    expect(hub.map((m) => m.apiRoot)).toEqual(['http://10.0.0.1:30020/v2']);
    expect(hub[0]!.ns).toBeUndefined();
  });

  it('ignores the whole file, as containerd does, on an unknown capability or a TOML error; skips skip_verify and client-cert hosts', async () => {
    const root = await tempDir('certs-bad');
    const dir = path.join(root, 'registry.example.com_5000_');
    await put(path.join(dir, 'hosts.toml'), '[host."http://a"]\ncapabilities = ["pull", "teleport"]\n[host."http://b"]\n');
    expect(await containerdMirrors(root, REF)).toEqual([]);
    await put(path.join(dir, 'hosts.toml'), '[host."http://a"\ncapabilities = ["pull"]\n');
    expect(await containerdMirrors(root, REF)).toEqual([]);
    await put(path.join(dir, 'hosts.toml'), '[host."https://a"]\nskip_verify = true\n[host."https://b"]\nclient = [["c.crt", "c.key"]]\n[host."https://c"]\n');
    expect((await containerdMirrors(root, REF)).map((m) => m.apiRoot)).toEqual(['https://c/v2']);
    // A host directory holding only certificate files: no mirrors.
    await put(path.join(dir, 'hosts.toml'), '');
    expect(await containerdMirrors(root, REF)).toEqual([]);
  });

  it('parses Go durations as hosts.toml writes them', () => {
    expect(parseGoDuration('1s')).toBe(1000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('200ms')).toBe(200);
    expect(parseGoDuration('soon')).toBeUndefined();
  });
});

/** registries.conf v2 files in containers-registries.conf(5) format, read as podman/skopeo read them. */
describe('containers registries.conf', () => {
  async function conf(main: string, dropIns: Record<string, string> = {}): Promise<string> {
    const dir = await tempDir('containers');
    const file = await put(path.join(dir, 'registries.conf'), main);
    for (const [n, t] of Object.entries(dropIns)) await put(path.join(dir, 'registries.conf.d', n), t);
    return file;
  }

  const MAIN = [
    'unqualified-search-registries = ["registry.example.com"]',
    'short-name-mode = "enforcing"',
    '',
    '[[registry]]',
    'prefix = "registry.example.com"',
    '[[registry.mirror]]',
    'location = "wide.mirror"',
    '',
    '[[registry]]',
    'prefix = "registry.example.com/models"',
    'location = "registry.example.com/models"',
    '[[registry.mirror]]',
    'location = "mirror.internal:5000/cache/models"',
    'insecure = true',
    '[[registry.mirror]]',
    'location = "digest.mirror/models"',
    'pull-from-mirror = "digest-only"',
    '[[registry.mirror]]',
    'location = "tag.mirror/models"',
    'pull-from-mirror = "tag-only"',
  ].join('\n');

  it('takes the longest matching prefix; its mirrors in order, moved under the mirror location; pull-from-mirror by reference form', async () => {
    const file = await conf(MAIN);
    const tag = await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'models/llama', byDigest: false });
    expect(tag.map((m) => `${m.apiRoot} ${m.repository}`)).toEqual([
      'http://mirror.internal:5000/v2 cache/models/llama',
      'https://tag.mirror/v2 models/llama',
    ]);
    const digest = await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'models/llama', byDigest: true });
    expect(digest.map((m) => m.registry)).toEqual(['mirror.internal:5000', 'digest.mirror']);
    const other = await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'datasets/x', byDigest: false });
    expect(other.map((m) => `${m.registry} ${m.repository}`)).toEqual(['wide.mirror datasets/x']);
    // "models2" is not under the "models" prefix: prefixes match at path boundaries.
    const sibling = await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'models2/x', byDigest: false });
    expect(sibling.map((m) => m.registry)).toEqual(['wide.mirror']);
    expect(await registriesConfMirrors(file, { registry: 'elsewhere.io', repository: 'a/b', byDigest: false })).toEqual([]);
  });

  it('reads drop-ins in name order; a later table with the same prefix replaces the earlier; mirror-by-digest-only; wildcards', async () => {
    const file = await conf(MAIN, {
      '10-replace.conf': '[[registry]]\nprefix = "registry.example.com/models"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "replaced.mirror/models"\n',
      '20-wild.conf': '[[registry]]\nprefix = "*.corp.example"\n[[registry.mirror]]\nlocation = "corp.mirror"\n',
      'ignored.txt': '[[registry]]\nprefix = "registry.example.com/models"\nblocked = true\n',
    });
    expect(await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'models/llama', byDigest: false })).toEqual([]);
    const d = await registriesConfMirrors(file, { registry: 'registry.example.com', repository: 'models/llama', byDigest: true });
    expect(d.map((m) => `${m.apiRoot} ${m.repository}`)).toEqual(['https://replaced.mirror/v2 models/llama']);
    const w = await registriesConfMirrors(file, { registry: 'eu.corp.example', repository: 'team/m', byDigest: false });
    expect(w.map((m) => `${m.registry} ${m.repository}`)).toEqual(['corp.mirror team/m']);
    expect(await registriesConfMirrors(file, { registry: 'corp.example', repository: 'team/m', byDigest: false })).toEqual([]);
  });

  it('refuses what podman would refuse or modelseal cannot honour: blocked registries, origin rewrites, v1 files, bad syntax', async () => {
    const cases: Array<[string, RegExp]> = [
      ['[[registry]]\nprefix = "registry.example.com"\nblocked = true\n', /is blocked/],
      ['[[registry]]\nprefix = "registry.example.com"\nlocation = "other.example.com"\n', /rewritten to other\.example\.com/],
      ['[registries.search]\nregistries = ["docker.io"]\n', /v1/],
      ['[[registry]\nprefix = "x"\n', /cannot read registries\.conf/],
      ['[[registry]]\nprefix = "registry.example.com"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n', /pull-from-mirror/],
    ];
    for (const [text, re] of cases) {
      const err = await registriesConfMirrors(await conf(text), { registry: 'registry.example.com', repository: 'models/llama', byDigest: false }).catch((e: unknown) => e);
      expect(isModelsealError(err, 'CONFIG_INVALID'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('--mirror and the combined order', () => {
  it('parses host=url, refuses malformed values, and orders flags, hosts.toml, then registries.conf', async () => {
    expect(parseMirrorFlag('registry.example.com:5000=http://127.0.0.1:5001')).toEqual({ registry: 'registry.example.com:5000', url: 'http://127.0.0.1:5001' });
    for (const bad of ['nohost', '=http://x', 'h=', 'h=ftp://x', 'h=https://user:pw@m', 'bad host=http://x']) {
      expect(() => parseMirrorFlag(bad), bad).toThrow();
    }
    const certs = await tempDir('certs-order');
    await put(path.join(certs, 'registry.example.com_5000_', 'hosts.toml'), '[host."http://containerd.mirror"]\n');
    const dir = await tempDir('containers-order');
    const rc = await put(path.join(dir, 'registries.conf'), '[[registry]]\nprefix = "registry.example.com:5000"\n[[registry.mirror]]\nlocation = "podman.mirror"\n[[registry.mirror]]\nlocation = "containerd.mirror"\ninsecure = true\n');
    const ref = parseOciReference('oci://registry.example.com:5000/models/llama:v1');
    const ms = await mirrorsFor(ref, {
      flags: [{ registry: 'registry.example.com:5000', url: 'https://flag.mirror' }, { registry: 'other:1', url: 'https://not.this' }, { registry: '_default', url: 'https://any.mirror' }],
      hostsDir: certs,
      registriesConf: rc,
    });
    // The same endpoint named twice (hosts.toml and registries.conf) is tried once.
    expect(ms.map((m) => `${m.apiRoot} (${m.from.split(' ')[0]})`)).toEqual([
      'https://flag.mirror/v2 (--mirror)',
      'https://any.mirror/v2 (--mirror)',
      'http://containerd.mirror/v2 (hosts.toml)',
      'https://podman.mirror/v2 (registries.conf)',
    ]);
  });

  it('refuses a mirror configuration that would ask for an invalid repository name', async () => {
    const dir = await tempDir('containers-badrepo');
    const rc = await put(path.join(dir, 'registries.conf'), '[[registry]]\nprefix = "registry.example.com:5000"\n[[registry.mirror]]\nlocation = "m.example/UPPER"\n');
    const err = await mirrorsFor(parseOciReference('oci://registry.example.com:5000/models/llama:v1'), { registriesConf: rc }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'CONFIG_INVALID')).toBe(true);
  });
});
