import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSigstore } from '../../../src/signatures/core/sigstore-sign.js';
import { verifySigstoreBundle } from '../../../src/signatures/core/sigstore-verify.js';
import { trustMaterialFor, trustedRootJson } from '../../../src/signatures/core/trusted-root.js';
import { loadTrustedRootFile } from '../../../src/trust/roots/load.js';
import { fakeIdentityToken, startMockSigstore, type MockSigstore } from '../../helpers/mock-sigstore.js';

/** trusted_root.json and ClientTrustConfig are protobuf JSON: read them as a protojson parser does. */

const GOLDEN = new URL('../../fixtures/oms-golden/', import.meta.url);
const trustConfig = JSON.parse(readFileSync(new URL('sigstore-trust-config.json', GOLDEN), 'utf8')) as Record<string, any>;
const ISSUER = 'https://issuer.example';

/** The proto field names protoc keeps in descriptors (what Python's and Go's protojson also accept). */
function snakeCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCase);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeCase(v)]));
}

const summary = (doc: unknown) => {
  const tm = trustMaterialFor(doc);
  return { tlogs: tm.tlogs.map((t) => [t.baseURL, t.logID.toString('hex'), t.validFor]), cas: tm.certificateAuthorities.length, tsas: tm.timestampAuthorities.length, ctlogs: tm.ctlogs.length };
};

describe('protobuf JSON reading of trust roots', () => {
  it('reads proto (snake_case) field names the same as lowerCamelCase ones, in a ClientTrustConfig too', () => {
    const snake = snakeCase(trustConfig) as Record<string, any>;
    expect(snake.trusted_root.tlogs[0].public_key.raw_bytes).toBeTypeOf('string');
    expect(summary(snake)).toEqual(summary(trustConfig));
    expect(summary(snake.trusted_root)).toEqual(summary(trustConfig.trustedRoot));
  });

  it('treats null as absent, at any depth', () => {
    const root = structuredClone(trustConfig.trustedRoot);
    root.timestampAuthorities = null;
    root.tlogs[0].publicKey.validFor.end = null;
    root.tlogs[0].checkpointKeyId = null;
    root.certificateAuthorities[0].validFor = null;
    const tm = trustMaterialFor(root);
    expect(tm.timestampAuthorities).toEqual([]);
    expect(tm.tlogs[0]!.validFor.end.getTime()).toBeGreaterThan(Date.parse('9000-01-01T00:00:00Z'));
    // A required field given as null is missing, and says so.
    const noStart = structuredClone(trustConfig.trustedRoot);
    noStart.tlogs[0].publicKey.validFor.start = null;
    expect(() => trustMaterialFor(noStart)).toThrow(/validFor\.start is missing/);
  });

  it('ignores unknown fields (newer producers add them)', () => {
    const root = structuredClone(trustConfig.trustedRoot);
    root.futureField = { anything: [1, 2] };
    root.tlogs[0].operator = 'example';
    root.tlogs[0].publicKey.validFor.future = '2030-01-01T00:00:00Z';
    expect(summary(root)).toEqual(summary(trustConfig.trustedRoot));
    const ctc = { ...structuredClone(trustConfig), somethingNew: true, futureConfig: { rekorTlogUrls: [] } };
    expect(summary(ctc)).toEqual(summary(trustConfig));
  });

  it('accepts a window that starts and ends at the same instant; refuses one that ends first', () => {
    const root = structuredClone(trustConfig.trustedRoot);
    root.tlogs[0].publicKey.validFor = { start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' };
    expect(() => trustedRootJson(root)).not.toThrow();
    root.tlogs[0].publicKey.validFor.end = '2023-12-31T23:59:59.999Z';
    expect(() => trustedRootJson(root)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('refuses a field spelt both ways, a null list element, and a __proto__ key stays plain data', () => {
    const both = structuredClone(trustConfig.trustedRoot);
    both.tlogs[0].base_url = 'https://other.example';
    expect(() => trustedRootJson(both)).toThrow(/spells field baseUrl twice/);
    const nullItem = structuredClone(trustConfig.trustedRoot);
    nullItem.tlogs.push(null);
    expect(() => trustedRootJson(nullItem)).toThrow(/tlogs\[\d+\] is null/);
    const proto = JSON.parse(`{"__proto__":{"polluted":true},${JSON.stringify(trustConfig.trustedRoot).slice(1)}`) as unknown;
    const out = trustedRootJson(proto);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a trusted root file is validated when loaded (a broken one is a configuration error before any model is read)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-trpj-'));
    try {
      const good = path.join(dir, 'good.json');
      const bad = path.join(dir, 'bad.json');
      await writeFile(good, JSON.stringify(snakeCase(trustConfig)));
      const broken = structuredClone(trustConfig);
      broken.trustedRoot.tlogs[0].publicKey.validFor.start = 'last tuesday';
      await writeFile(bad, JSON.stringify(broken));
      expect(summary(await loadTrustedRootFile(good))).toEqual(summary(trustConfig));
      await expect(loadTrustedRootFile(bad)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('validity windows include both ends when verifying', () => {
  let mock: MockSigstore;
  beforeAll(async () => {
    mock = await startMockSigstore();
  });
  afterAll(async () => {
    await mock?.close();
  });

  it('a log key whose window ends exactly at the integrated time verifies; one second earlier does not', async () => {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'm', digest: { sha256: 'a'.repeat(64) } }], predicateType: 'x:y', predicate: {} }));
    const text = await signSigstore(statement, { kind: 'sigstore', identityToken: fakeIdentityToken('alice@example.com', ISSUER), fulcioUrl: mock.fulcioUrl, rekorUrl: mock.rekorUrl });
    const bundle = JSON.parse(text) as Record<string, any>;
    const integrated = Number(bundle.verificationMaterial.tlogEntries[0].integratedTime) * 1000;
    const withLogEnd = (end: number) => {
      const root = structuredClone(mock.trustedRoot) as Record<string, any>;
      root.tlogs[0].publicKey.validFor.end = new Date(end).toISOString();
      return { kind: 'sigstore' as const, trustedRoot: root, identity: { exact: 'alice@example.com' }, issuer: ISSUER };
    };
    await expect(verifySigstoreBundle(bundle, statement, withLogEnd(integrated))).resolves.toMatchObject({ identity: 'alice@example.com' });
    await expect(verifySigstoreBundle(bundle, statement, withLogEnd(integrated - 1000))).rejects.toMatchObject({ code: 'TLOG_INVALID' });
  });
});
