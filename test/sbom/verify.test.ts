import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSbom } from '../../src/sbom/generate.js';
import { signSbom } from '../../src/sbom/sign.js';
import { verifySbom } from '../../src/sbom/verify.js';
import { isModelsealError, type ErrorCode } from '../../src/errors.js';
import type { Authority } from '../../src/signatures/core/types.js';
import { TestPki } from '../helpers/pki.js';
import { llamaSafetensorsModel, pytorchModel } from './fixtures.js';

function ecKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

async function fails(p: Promise<unknown>, codes: ErrorCode[], message?: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'expected a failure').toBeDefined();
  expect(codes.some((c) => isModelsealError(err, c)), String(err)).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('sbom verify', () => {
  const signerKey = ecKey();
  const trusted: Authority[] = [{ kind: 'key', name: 'release', publicKeys: [signerKey.publicKey] }];
  let dir: string;
  let sbom: Buffer;
  let bundle: Buffer;
  let spdx: Buffer;
  let spdxBundle: Buffer;

  beforeAll(async () => {
    dir = await llamaSafetensorsModel();
    sbom = Buffer.from((await generateSbom(dir, { format: 'cyclonedx' })).json);
    bundle = Buffer.from(await signSbom(sbom, { kind: 'key', privateKey: signerKey.privateKey }));
    spdx = Buffer.from((await generateSbom(dir, { format: 'spdx3' })).json);
    spdxBundle = Buffer.from(await signSbom(spdx, { kind: 'key', privateKey: signerKey.privateKey }));
  });

  it('accepts the untouched model with a trusted signature (CycloneDX and SPDX)', async () => {
    const ok = await verifySbom(sbom, dir, { bundle, authorities: trusted });
    expect(ok).toMatchObject({ format: 'cyclonedx', specVersion: '1.6', checked: 5, complete: true, signer: { method: 'key', authority: 'release' } });
    expect((await verifySbom(spdx, dir, { bundle: spdxBundle, authorities: trusted })).format).toBe('spdx3');
    expect((await verifySbom(sbom, dir)).signer).toBeUndefined();
  });

  it('the bundle is an in-toto statement with the CycloneDX predicate bound to the root digest', async () => {
    const b = JSON.parse(bundle.toString()) as { dsseEnvelope: { payload: string; payloadType: string } };
    const st = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString()) as Record<string, unknown>;
    expect(b.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(st.predicateType).toBe('https://cyclonedx.org/bom');
    const ok = await verifySbom(sbom, dir);
    expect(st.subject).toEqual([{ name: 'model', digest: { sha256: ok.rootDigest } }]);
  });

  it('fails on a changed file, an extra file and a missing file', async () => {
    const d = await llamaSafetensorsModel();
    const s = Buffer.from((await generateSbom(d, { format: 'cyclonedx' })).json);
    await writeFile(path.join(d, 'config.json'), '{"architectures":["Evil"]}');
    await fails(verifySbom(s, d), ['DIGEST_MISMATCH'], /config\.json/);

    const e = await pytorchModel();
    const se = Buffer.from((await generateSbom(e, { format: 'spdx3' })).json);
    await writeFile(path.join(e, 'extra.py'), 'import os\n');
    await fails(verifySbom(se, e), ['FILE_UNSIGNED'], /extra\.py/);

    const m = await pytorchModel();
    const sm = Buffer.from((await generateSbom(m, { format: 'cyclonedx-1.7' })).json);
    await rm(path.join(m, 'config.json'));
    await fails(verifySbom(sm, m), ['FILE_MISSING'], /config\.json/);
  });

  it('fails on a tampered SBOM, signed or not', async () => {
    const doc = JSON.parse(sbom.toString()) as { components: { components: { name: string; hashes: { content: string }[] }[] }[] };
    const file = doc.components[0]!.components.find((c) => c.name === 'config.json')!;
    file.hashes[0]!.content = '0'.repeat(64);
    const tampered = Buffer.from(JSON.stringify(doc));
    await fails(verifySbom(tampered, dir, { bundle, authorities: trusted }), ['SIGNATURE_INVALID'], /differs from the one that was signed/);
    await fails(verifySbom(tampered, dir), ['DIGEST_MISMATCH']);
    const broken = Buffer.from(sbom.toString().replace('"machine-learning-model"', '"ml-model"'));
    await fails(verifySbom(broken, dir, { bundle, authorities: trusted }), ['SBOM_INVALID'], /schema validation failed/);
    const dup = Buffer.from(sbom.toString().replace('"version": 1,', '"version": 1, "version": 2,'));
    await fails(verifySbom(dup, dir), ['SBOM_INVALID'], /duplicate key/);
  });

  it('fails on an untrusted signer, a missing signature when required, and a swapped bundle', async () => {
    const other = ecKey();
    await fails(verifySbom(sbom, dir, { bundle, authorities: [{ kind: 'key', publicKeys: [other.publicKey] }] }), ['SIGNATURE_INVALID', 'UNTRUSTED_SIGNER']);
    const rogue = Buffer.from(await signSbom(sbom, { kind: 'key', privateKey: other.privateKey }));
    await fails(verifySbom(sbom, dir, { bundle: rogue, authorities: trusted }), ['SIGNATURE_INVALID', 'UNTRUSTED_SIGNER']);
    await fails(verifySbom(sbom, dir, { requireSignature: true }), ['SIGNATURE_MISSING']);
    // A trusted signature over another SBOM (the SPDX one) does not vouch for this one.
    await fails(verifySbom(sbom, dir, { bundle: spdxBundle, authorities: trusted }), ['PAYLOAD_INVALID']);
  });

  it('a certificate-chain signature verifies against its root, and not against another root or a key', async () => {
    const pki = new TestPki();
    try {
      const { root, intermediate: mid, leaf } = pki.chain(['sbom-root', 'sbom-intermediate', 'sbom-signer'], [{ type: 'ec', curve: 'P-384' }, { type: 'ec', curve: 'P-384' }, { type: 'ec', curve: 'P-256' }]);
      const other = pki.root('other-root', { type: 'ec', curve: 'P-256' });
      const certBundle = Buffer.from(await signSbom(sbom, { kind: 'certificate', privateKey: leaf.key, leafPem: leaf.certPem, chainPems: [mid.certPem] }));
      const anchors = (r: { certPem: string }) => [{ kind: 'certificate' as const, name: 'pki', anchors: [new X509Certificate(r.certPem)] }];
      const ok = await verifySbom(sbom, dir, { bundle: certBundle, authorities: anchors(root) });
      expect(ok.signer).toMatchObject({ method: 'certificate', identity: 'CN=sbom-signer', issuer: 'CN=sbom-intermediate', authority: 'pki' });
      await fails(verifySbom(sbom, dir, { bundle: certBundle, authorities: anchors(other) }), ['UNTRUSTED_SIGNER'], /does not lead to a configured trust anchor/);
      await fails(verifySbom(sbom, dir, { bundle: certBundle, authorities: trusted }), ['SIGNATURE_INVALID']);
      // A key-signed bundle carries no chain for a certificate authority to check.
      await fails(verifySbom(sbom, dir, { bundle, authorities: anchors(root) }), ['UNTRUSTED_SIGNER'], /bare key/);
      // The chain is trusted but the leaf did not sign this statement.
      const forged = JSON.parse(certBundle.toString()) as { dsseEnvelope: { signatures: { sig: string }[] } };
      forged.dsseEnvelope.signatures[0]!.sig = (JSON.parse(bundle.toString()) as typeof forged).dsseEnvelope.signatures[0]!.sig;
      await fails(verifySbom(sbom, dir, { bundle: Buffer.from(JSON.stringify(forged)), authorities: anchors(root) }), ['SIGNATURE_INVALID'], /signing certificate CN=sbom-signer/);
    } finally {
      pki.dispose();
    }
  });
});
