import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { omsKeyHint } from '../../../src/signatures/core/key-ids.js';
import { MAX_BUNDLE_BYTES, parseBundle } from '../../../src/signatures/oms/bundle.js';
import { verifyModelSignature } from '../../../src/signatures/oms/verify.js';
import { bundleFor, bytesOf, MANIFEST, rootOf, statementJson } from '../../helpers/bundles.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const material = { publicKey: { hint: omsKeyHint(publicKey) }, tlogEntries: [] };
const good = (): Record<string, unknown> => bundleFor(statementJson(), privateKey, material);
const envelope = (b: Record<string, unknown>) => b.dsseEnvelope as { payloadType: string; signatures: unknown[]; payload: string };

/** Each hostile input must fail with its own code and a message naming the problem. */
function rejects(bytes: Uint8Array, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseBundle(bytes);
  } catch (err) {
    caught = err;
  }
  expect(caught).toMatchObject({ code, message: expect.stringMatching(message) });
  expect((caught as Error).message).not.toContain('\n');
}

const resources = MANIFEST.resources;
const predicate = (over: Record<string, unknown> = {}, res: unknown = resources) => ({
  serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ...over },
  resources: res,
});
const signedPayload = (text: string) => bytesOf(bundleFor(text, privateKey, material));

describe('hostile bundles: container', () => {
  it('accepts the well-formed bundle these cases start from', () => {
    expect(parseBundle(bytesOf(good())).statement.manifest).toEqual({ ...MANIFEST, serialization: { ...MANIFEST.serialization, ignorePaths: [] } });
  });

  it('oversize input', () => rejects(Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20), 'BUNDLE_TOO_LARGE', /limit/));
  it('truncated JSON', () => {
    const bytes = bytesOf(good());
    rejects(bytes.subarray(0, bytes.length - 10), 'BUNDLE_INVALID', /not valid JSON/);
  });
  it('not UTF-8', () => rejects(Buffer.from([0x7b, 0xff, 0x7d]), 'BUNDLE_INVALID', /UTF-8/));
  it('duplicate keys', () => rejects(Buffer.from('{"mediaType":"a","mediaType":"b"}'), 'BUNDLE_INVALID', /duplicate key/));
  it('wrong mediaType, including older bundle versions', () => {
    for (const mediaType of ['application/json', 'application/vnd.dev.sigstore.bundle+json;version=0.1', undefined]) {
      rejects(bytesOf({ ...good(), mediaType }), 'BUNDLE_INVALID', /mediaType .* is not a Sigstore bundle v0.3/);
    }
  });
  it('accepts the other v0.3 media type spelling', () => {
    expect(() => parseBundle(bytesOf({ ...good(), mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.3' }))).not.toThrow();
  });
  it('missing dsseEnvelope, or a message signature instead', () => {
    const { dsseEnvelope: _, ...rest } = good();
    rejects(bytesOf(rest), 'BUNDLE_INVALID', /has no dsseEnvelope/);
    rejects(bytesOf({ ...rest, messageSignature: {} }), 'BUNDLE_INVALID', /message signature/);
  });
  it('wrong payloadType', () => {
    const b = good();
    envelope(b).payloadType = 'application/json';
    rejects(bytesOf(b), 'PAYLOAD_INVALID', /payloadType/);
  });
  it('zero or two signatures (only one can count, T20)', () => {
    const b = good();
    const sig = envelope(b).signatures[0];
    envelope(b).signatures = [];
    rejects(bytesOf(b), 'BUNDLE_INVALID', /0 signatures; exactly one/);
    envelope(b).signatures = [sig, sig];
    rejects(bytesOf(b), 'BUNDLE_INVALID', /2 signatures; exactly one/);
  });
  it('bad base64 in payload or signature', () => {
    const b = good();
    envelope(b).payload = 'not*base64';
    rejects(bytesOf(b), 'BUNDLE_INVALID', /payload is not valid base64/);
    const c = good();
    envelope(c).signatures = [{ sig: 'QQ===' }];
    rejects(bytesOf(c), 'BUNDLE_INVALID', /sig is not valid base64/);
  });
  it('ambiguous or missing verification material', () => {
    rejects(bytesOf({ ...good(), verificationMaterial: { ...material, certificate: { rawBytes: 'AAAA' } } }), 'BUNDLE_INVALID', /exactly one of publicKey/);
    rejects(bytesOf({ ...good(), verificationMaterial: undefined }), 'BUNDLE_INVALID', /no verificationMaterial/);
    rejects(bytesOf({ ...good(), verificationMaterial: { x509CertificateChain: { certificates: [] } } }), 'BUNDLE_INVALID', /non-empty array/);
  });
  it('keyid as a number', () => {
    const b = good();
    (envelope(b).signatures[0] as Record<string, unknown>).keyid = 7;
    rejects(bytesOf(b), 'BUNDLE_INVALID', /keyid/);
  });
});

describe('hostile bundles: signed statement (correctly signed, so only the check under test can fail)', () => {
  it('wrong _type', () => rejects(signedPayload(statementJson({ _type: 'https://in-toto.io/Statement/v0.1' })), 'PAYLOAD_INVALID', /_type/));
  it('wrong predicateType', () => rejects(signedPayload(statementJson({ predicateType: 'https://slsa.dev/provenance/v1' })), 'PAYLOAD_INVALID', /predicateType .* is not an OMS/));
  it('zero or two subjects', () => {
    rejects(signedPayload(statementJson({ subject: [] })), 'PAYLOAD_INVALID', /0 subjects/);
    const s = { name: 'm', digest: { sha256: rootOf(resources.map((r) => r.digest)) } };
    rejects(signedPayload(statementJson({ subject: [s, s] })), 'PAYLOAD_INVALID', /2 subjects/);
  });
  it('empty subject name', () => {
    rejects(signedPayload(statementJson({ subject: [{ name: '', digest: { sha256: rootOf(resources.map((r) => r.digest)) } }] })), 'PAYLOAD_INVALID', /name must be a non-empty string/);
  });
  it('empty resources', () => rejects(signedPayload(statementJson({ predicate: predicate({}, []) })), 'PAYLOAD_INVALID', /resources is empty/));
  it('inconsistent root digest', () => {
    rejects(signedPayload(statementJson({ subject: [{ name: 'm', digest: { sha256: 'ab'.repeat(32) } }] })), 'MANIFEST_INCONSISTENT', /manifest is inconsistent/);
    // Reordering resources changes the root: the order is signed (T1).
    rejects(signedPayload(statementJson({ predicate: predicate({}, [...resources].reverse()) })), 'MANIFEST_INCONSISTENT', /inconsistent/);
  });
  it('bad hex digests', () => {
    for (const digest of ['AB'.repeat(32), 'ab'.repeat(31), 'zz'.repeat(32)]) {
      const res = [{ ...resources[0]!, digest }, resources[1]!];
      rejects(signedPayload(statementJson({ predicate: predicate({}, res) })), 'PAYLOAD_INVALID', /not a lowercase hex sha256 digest/);
    }
  });
  it('unknown algorithm or hash type', () => {
    rejects(signedPayload(statementJson({ predicate: predicate({}, [{ ...resources[0]!, algorithm: 'md5' }, resources[1]!]) })), 'PAYLOAD_INVALID', /algorithm "md5"/);
    rejects(signedPayload(statementJson({ predicate: predicate({ hash_type: 'blake2s' }) })), 'PAYLOAD_INVALID', /hash_type "blake2s" is not supported/);
    // blake3 is supported, but every resource must then say blake3.
    rejects(signedPayload(statementJson({ predicate: predicate({ hash_type: 'blake3' }) })), 'PAYLOAD_INVALID', /expected blake3/);
  });
  it('duplicate resource names', () => {
    const res = [resources[0]!, resources[0]!];
    const subject = [{ name: 'm', digest: { sha256: rootOf(res.map((r) => r.digest)) } }];
    rejects(signedPayload(statementJson({ subject, predicate: predicate({}, res) })), 'PAYLOAD_INVALID', /listed twice/);
  });
  it('duplicate keys inside the payload', () => {
    const text = statementJson().replace('"predicateType"', '"_type":"https://in-toto.io/Statement/v1","predicateType"');
    rejects(signedPayload(text), 'PAYLOAD_INVALID', /duplicate key "_type"/);
  });

  const shardResources = [
    { name: 'w.bin:0:8', algorithm: 'sha256-sharded-8', digest: 'aa'.repeat(32) },
    { name: 'w.bin:8:10', algorithm: 'sha256-sharded-8', digest: 'bb'.repeat(32) },
  ];
  const shardSubject = [{ name: 'm', digest: { sha256: rootOf(shardResources.map((r) => r.digest)) } }];
  const shards = (shardSize: unknown, res: unknown = shardResources) =>
    statementJson({ subject: shardSubject, predicate: predicate({ method: 'shards', shard_size: shardSize }, res) });

  it('non-integral or missing shard_size', () => {
    rejects(signedPayload(shards(8.5)), 'PAYLOAD_INVALID', /shard_size must be a positive integer, got 8.5/);
    rejects(signedPayload(shards(undefined)), 'PAYLOAD_INVALID', /shard_size/);
    rejects(signedPayload(shards(-8)), 'PAYLOAD_INVALID', /shard_size/);
  });
  it('accepts an integral float shard_size (T3) and Python shard algorithm names (T2)', () => {
    const parsed = parseBundle(signedPayload(shards(8).replace('"shard_size":8', '"shard_size":8.0')));
    expect(parsed.statement.manifest.serialization.shardSize).toBe(8);
    expect(parsed.statement.manifest.resources[0]!.algorithm).toBe('sha256-sharded-8');
  });
  it('a sharded algorithm that disagrees with shard_size', () => {
    rejects(signedPayload(shards(16)), 'PAYLOAD_INVALID', /sha256-sharded-8.*expected sha256/);
  });
  it('a shard name without a range', () => {
    const res = [{ ...shardResources[0]!, name: 'w.bin' }, shardResources[1]!];
    rejects(signedPayload(shards(8, res)), 'PAYLOAD_INVALID', /not <path>:<start>:<end>/);
  });
});

describe('payload bytes are verified as sent (T9)', () => {
  it('verifies a payload with unusual key order and whitespace, and reads it without re-serializing', async () => {
    const text = `{ "predicate" : ${JSON.stringify(predicate())},\n "predicateType": "https://model_signing/signature/v1.0",\n "subject": [{"digest": {"sha256": "${rootOf(resources.map((r) => r.digest))}"}, "name": "tiny-model"}], "_type": "https://in-toto.io/Statement/v1"}\n`;
    const v = await verifyModelSignature(signedPayload(text), [{ kind: 'key', publicKeys: [publicKey] }]);
    expect(v.manifest.resources).toEqual(resources);
  });
});
