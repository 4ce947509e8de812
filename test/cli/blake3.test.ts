import { createHash, generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IN_TOTO_PAYLOAD_TYPE, pae } from '../../src/signatures/core/dsse.js';
import { signEcdsa } from '../../src/signatures/core/ecdsa-curves.js';
import { omsKeyHint } from '../../src/signatures/core/key-ids.js';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { bytes, makeModel } from '../helpers/model.js';

const { blake3 } = createRequire(import.meta.url)('hash-wasm') as { blake3: (data: Uint8Array) => Promise<string> };

/** `--hash blake3` end to end, and a bundle laid out as model_signing 1.1 writes BLAKE3 ones. */
describe('BLAKE3 signing and verification (CLI)', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  async function keys(): Promise<{ priv: string; pub: string }> {
    const dir = await tempDir('b3-keys');
    const priv = path.join(dir, 'k.pem');
    const pub = path.join(dir, 'k.pub');
    await writeFile(priv, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
    return { priv, pub };
  }

  it('sign key --hash blake3 records hash_type blake3; verify passes, a changed byte fails with exit 4', async () => {
    const weights = bytes(3 * 1024 * 1024 + 5);
    const model = await makeModel({ 'weights.bin': weights, 'config.json': '{"a":1}' });
    const { priv, pub } = await keys();
    const signed = await runCli(['sign', 'key', model, '--private-key', priv, '--hash', 'blake3', '--json']);
    expect(signed.code, signed.stderr).toBe(0);
    const bundle = JSON.parse(await readFile(path.join(model, 'model.sig'), 'utf8')) as { dsseEnvelope: { payload: string } };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as { predicate: { serialization: { hash_type: string }; resources: unknown[] } };
    expect(statement.predicate.serialization.hash_type).toBe('blake3');
    expect(statement.predicate.resources).toEqual([
      { name: 'config.json', algorithm: 'blake3', digest: await blake3(Buffer.from('{"a":1}')) },
      { name: 'weights.bin', algorithm: 'blake3', digest: await blake3(weights) },
    ]);
    expect((await runCli(['verify', 'key', model, '--public-key', pub])).code).toBe(0);
    weights[1_000_000] ^= 1;
    await writeFile(path.join(model, 'weights.bin'), weights);
    expect((await runCli(['verify', 'key', model, '--public-key', pub])).code).toBe(4);
  });

  it('verifies a model_signing 1.1 BLAKE3 bundle (its key order, hint and resource layout)', async () => {
    const files = { 'signme-1': Buffer.from('first file\n'), 'signme-2': Buffer.from('second file\n') };
    const model = await makeModel(files, 'v1.1.0-blake3');
    const resources = [];
    for (const [name, content] of Object.entries(files)) resources.push({ algorithm: 'blake3', name, digest: await blake3(content) });
    const root = createHash('sha256').update(Buffer.concat(resources.map((r) => Buffer.from(r.digest, 'hex')))).digest('hex');
    // As model_signing 1.1 serializes it (protobuf Struct → JSON: predicate keys in its own order).
    const payload = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'v1.1.0-blake3', digest: { sha256: root } }],
        predicateType: 'https://model_signing/signature/v1.0',
        predicate: { resources, serialization: { allow_symlinks: false, method: 'files', hash_type: 'blake3', ignore_paths: ['.git', 'model.sig', '.gitattributes', '.gitignore', '.github'] } },
      }),
    );
    const sig = signEcdsa(key.privateKey, pae(IN_TOTO_PAYLOAD_TYPE, payload));
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: omsKeyHint(key.privateKey) }, tlogEntries: [] },
      dsseEnvelope: { payload: payload.toString('base64'), payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
    };
    await writeFile(path.join(model, 'model.sig'), JSON.stringify(bundle));
    const { pub } = await keys();
    const ok = await runCli(['verify', 'key', model, '--public-key', pub]);
    expect(ok.code, ok.stderr).toBe(0);
    // A BLAKE3 digest of the wrong length is a malformed statement (exit 3), not a mismatch.
    const short = { ...bundle };
    const badPayload = Buffer.from(payload.toString().replace(resources[0]!.digest, resources[0]!.digest.slice(0, 62)));
    short.dsseEnvelope = { ...bundle.dsseEnvelope, payload: badPayload.toString('base64') };
    await writeFile(path.join(model, 'model.sig'), JSON.stringify(short));
    expect((await runCli(['verify', 'key', model, '--public-key', pub])).code).toBe(3);
  });
});
