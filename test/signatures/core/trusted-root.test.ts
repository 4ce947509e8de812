import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import { PUBLIC_GOOD_SNAPSHOT_SOURCE, publicGoodTrustedRoot, refreshPublicGoodTrustedRoot } from '../../../src/trust/roots/public-good.js';
import { anchoredPattern, identityMatches } from '../../../src/signatures/core/identity.js';
import { readTrustedRootFile, trustMaterialFor, trustedRootJson, withCheckpointNames } from '../../../src/signatures/core/trusted-root.js';
import { signSigstore } from '../../../src/signatures/core/sigstore-sign.js';
import { fakeIdentityToken, startMockSigstore } from '../../helpers/mock-sigstore.js';

const GOLDEN = new URL('../../fixtures/oms-golden/', import.meta.url);
const trustConfig = JSON.parse(readFileSync(new URL('sigstore-trust-config.json', GOLDEN), 'utf8')) as { trustedRoot: Record<string, any> };

describe('trusted root validation', () => {
  it('accepts the golden ClientTrustConfig and the shipped public-good snapshot', () => {
    expect(trustedRootJson(trustConfig).mediaType).toBe('application/vnd.dev.sigstore.trustedroot+json;version=0.1');
    const root = publicGoodTrustedRoot() as { tlogs: { baseUrl: string }[] };
    expect(root.tlogs.map((t) => t.baseUrl)).toContain('https://rekor.sigstore.dev');
    expect(PUBLIC_GOOD_SNAPSHOT_SOURCE).toContain('@sigstore/tuf');
    expect(trustMaterialFor(root).certificateAuthorities.length).toBeGreaterThan(0);
  });

  const broken: [string, (r: Record<string, any>) => void][] = [
    ['tlog key without validFor.start (pitfall 8)', (r) => delete r.tlogs[0].publicKey.validFor.start],
    ['tlog key without validFor', (r) => delete r.tlogs[0].publicKey.validFor],
    ['ctlog key without validFor.start', (r) => delete r.ctlogs[0].publicKey.validFor.start],
    ['validity that ends before it starts', (r) => (r.tlogs[0].publicKey.validFor.end = '2020-01-01T00:00:00Z')],
    ['a non-RFC 3339 time', (r) => (r.tlogs[0].publicKey.validFor.start = 'yesterday')],
    ['a log without logId', (r) => delete r.tlogs[0].logId],
    ['a CA with an empty chain', (r) => (r.certificateAuthorities[0].certChain.certificates = [])],
    ['an unknown mediaType', (r) => (r.mediaType = 'application/json')],
  ];
  for (const [what, mutate] of broken) {
    it(`rejects ${what}`, () => {
      const root = structuredClone(trustConfig.trustedRoot);
      mutate(root);
      expect(() => trustMaterialFor(root)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  }

  it('rejects a log key that is not a key', () => {
    const root = structuredClone(trustConfig.trustedRoot);
    root.tlogs[0].publicKey.rawBytes = Buffer.from('nope').toString('base64');
    expect(() => trustMaterialFor(root)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('reads a trusted root file and rejects a non-JSON one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-tr-'));
    try {
      await writeFile(path.join(dir, 'ok.json'), JSON.stringify(trustConfig));
      await writeFile(path.join(dir, 'bad.json'), '{');
      await expect(readTrustedRootFile(path.join(dir, 'ok.json'))).resolves.toMatchObject({ mediaType: expect.stringContaining('clienttrustconfig') });
      await expect(readTrustedRootFile(path.join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(readTrustedRootFile(path.join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('online refresh', () => {
  it('reports an unreachable TUF mirror as a NETWORK error (loopback only, nothing listens)', async () => {
    const cachePath = await mkdtemp(path.join(os.tmpdir(), 'modelseal-tuf-'));
    try {
      await expect(refreshPublicGoodTrustedRoot({ cachePath, mirrorURL: 'http://127.0.0.1:9', timeoutMs: 2000 })).rejects.toMatchObject({ code: 'NETWORK' });
    } finally {
      await rm(cachePath, { recursive: true, force: true });
    }
  });
});

describe('checkpoint names of private logs (pitfall 5)', () => {
  it('sigstore-js alone rejects a checkpoint signed under another name; with the name added it verifies', async () => {
    const mock = await startMockSigstore({ rekorOrigin: 'rekor.private.example' });
    try {
      const text = await signSigstore(Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}'), {
        kind: 'sigstore',
        identityToken: fakeIdentityToken('alice@example.com', 'https://issuer.example'),
        fulcioUrl: mock.fulcioUrl,
        rekorUrl: mock.rekorUrl,
      });
      const bundle = bundleFromJSON(JSON.parse(text));
      const tm = trustMaterialFor(mock.trustedRoot);
      const entity = toSignedEntity(bundle);
      expect(() => new Verifier(tm).verify(entity)).toThrow(/checkpoint/);
      const fixed = withCheckpointNames(tm, bundle.verificationMaterial.tlogEntries);
      expect(fixed.tlogs[0]!.baseURL).toBe(`${mock.rekorUrl} rekor.private.example`);
      expect(tm.tlogs[0]!.baseURL).toBe(mock.rekorUrl);
      expect(() => new Verifier(fixed).verify(entity)).not.toThrow();
      // Only the checkpoint's own origin is added, and only for the log the entry names.
      const entry = bundle.verificationMaterial.tlogEntries[0]!;
      const forged = { ...entry, inclusionProof: { ...entry.inclusionProof!, checkpoint: { envelope: entry.inclusionProof!.checkpoint!.envelope.replace(/^rekor\.private\.example/, 'other.example') } } };
      expect(withCheckpointNames(tm, [forged])).toBe(tm);
      const otherLog = { ...entry, logId: { keyId: Buffer.alloc(32) } };
      expect(withCheckpointNames(tm, [otherLog])).toBe(tm);
    } finally {
      await mock.close();
    }
  });
});

describe('identity regexps are anchored (pitfall 1)', () => {
  it('matches whole SANs only', () => {
    expect(identityMatches('alice@example.com', { regexp: 'alice@example\\.com' })).toBe(true);
    expect(identityMatches('malice@example.com.evil', { regexp: 'alice@example\\.com' })).toBe(false);
    expect(identityMatches('alice@example.com.evil', { regexp: 'alice@example\\.com' })).toBe(false);
    // Alternation stays inside the anchors: `a|b` must not become `^a|b$`.
    expect(identityMatches('xb', { regexp: 'a|b' })).toBe(false);
    expect(identityMatches('b', { regexp: 'a|b' })).toBe(true);
    expect(identityMatches('https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1', { regexp: 'https://github\\.com/org/repo/.*' })).toBe(true);
    expect(identityMatches('alice@example.com', { exact: 'alice@example.com' })).toBe(true);
    expect(identityMatches('Alice@example.com', { exact: 'alice@example.com' })).toBe(false);
  });

  it('reports an invalid regexp as configuration error', () => {
    expect(() => anchoredPattern('(unclosed')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
