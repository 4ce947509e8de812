import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { dsse } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import type { Bundle } from '@sigstore/bundle';
import { ModelsealError } from '../../errors.js';
import { parseStrictJson } from '../../formats/strict-json.js';
import { cosignKeyHint, keyIdentity, omsKeyHint } from '../core/key-ids.js';
import { verifyChainSignature } from '../core/certificate.js';
import { digestNameForCurve, ecCurveOf, publicKeyOf, verifyEcdsa, verifyEcdsaPrehashed } from '../core/ecdsa-curves.js';
import { parseSigstoreBundle, verifyKeylessBundle, type SigstoreAuthority } from '../core/sigstore-verify.js';
import type { Authority, SignerIdentity } from '../core/types.js';
import { describeTarget, type BlobTarget } from './target.js';
import { onlyNotationSignatures } from '../notation/only-notation.js';

/**
 * cosign-compatible `verify-blob` (message-signature bundles) and DSSE in-toto attestation
 * bundles (`attest-blob`, our SBOM and receipt attestations). A key authority checks only the
 * signature, as cosign `--key … --insecure-ignore-tlog` does: any tlog entries are not
 * consulted. A certificate authority needs a chain to one of its anchors (as for model
 * bundles). A sigstore authority needs the full keyless proof (certificate, SCT, tlog, time).
 */

const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
const IN_TOTO = 'application/vnd.in-toto+json';
export const STATEMENT_TYPES: readonly string[] = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];

const HASH_BY_ALGORITHM: Partial<Record<HashAlgorithm, 'sha256' | 'sha384' | 'sha512'>> = {
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};

/** Hash a file by streaming it (pitfall 4: never one Buffer for a multi-GB blob). */
export async function fileDigest(path: string, hash: 'sha256' | 'sha384' | 'sha512'): Promise<Buffer> {
  const h = createHash(hash);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  } catch (err) {
    throw new ModelsealError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return h.digest();
}

/**
 * The target's digest under `hash`. A digest target is SHA-256 only: a bundle over another
 * digest (P-384/P-521 keys sign SHA-384/512) cannot be checked against it.
 */
export async function targetDigest(target: BlobTarget, hash: 'sha256' | 'sha384' | 'sha512'): Promise<Buffer> {
  if (target.kind === 'file') return fileDigest(target.path, hash);
  if (hash !== 'sha256') throw new ModelsealError('USAGE', `the bundle signs a ${hash} digest; a sha256: digest cannot be checked against it (give the file)`);
  return target.sha256;
}

/** cosign `verify-blob`: the file (or given SHA-256) must be the signed digest and one authority must accept the signer. */
export async function verifyBlob(file: string | BlobTarget, bundleBytes: Uint8Array, authorities: Authority[]): Promise<SignerIdentity> {
  const target: BlobTarget = typeof file === 'string' ? { kind: 'file', path: file } : file;
  const bundle = readBundle(bundleBytes);
  if (bundle.content.$case !== 'messageSignature') {
    throw new ModelsealError('BUNDLE_INVALID', 'bundle holds a DSSE envelope, not a blob signature (use verify-blob-attestation)');
  }
  const { messageDigest, signature } = bundle.content.messageSignature;
  const hash = messageDigest === undefined ? undefined : HASH_BY_ALGORITHM[messageDigest.algorithm];
  if (messageDigest === undefined || hash === undefined) {
    throw new ModelsealError('BUNDLE_INVALID', 'blob signature has no SHA2_256/384/512 messageDigest');
  }
  const digest = await targetDigest(target, hash);
  const name = describeTarget(target);
  if (!digest.equals(messageDigest.digest)) {
    throw new ModelsealError('DIGEST_MISMATCH', `${name} does not match the signed ${hash} digest`, {
      details: { file: name, expected: messageDigest.digest.toString('hex'), actual: digest.toString('hex') },
    });
  }
  // The digest algorithm must be the key's own (cosign: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512).
  const signedDigest = (key: KeyObject, sig: Buffer) =>
    digestNameForCurve(ecCurveOf(key)) === HashAlgorithm[messageDigest.algorithm] && verifyEcdsaPrehashed(key, digest, sig);
  return firstAccepting(authorities, bundle, signature, signedDigest);
}

/**
 * A DSSE in-toto attestation bundle: returns the statement (parsed from the exact signed bytes)
 * and who signed it. Subjects are not matched here: that is the caller's claim to check
 * (sigstore-js never matches them either, pitfall 10).
 */
export async function verifyStatementBundle(bundleBytes: Uint8Array, authorities: Authority[]): Promise<{ statement: unknown; signer: SignerIdentity }> {
  const bundle = readBundle(bundleBytes);
  if (bundle.content.$case !== 'dsseEnvelope') throw new ModelsealError('BUNDLE_INVALID', 'attestation bundle has no DSSE envelope');
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO) throw new ModelsealError('PAYLOAD_INVALID', `attestation payloadType ${JSON.stringify(env.payloadType)} is not ${IN_TOTO}`);
  const statement = parseInTotoStatement(env.payload);
  const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
  const sig = env.signatures[0]?.sig ?? Buffer.alloc(0);
  const signer = await firstAccepting(authorities, bundle, sig, (key, s) => verifyEcdsa(key, pae, s));
  return { statement, signer };
}

function readBundle(bytes: Uint8Array): Bundle {
  if (bytes.length > MAX_BUNDLE_BYTES) throw new ModelsealError('BUNDLE_TOO_LARGE', `bundle is ${bytes.length} bytes, over ${MAX_BUNDLE_BYTES}`);
  let doc: unknown;
  try {
    doc = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes), 'bundle');
  } catch (err) {
    throw new ModelsealError('BUNDLE_INVALID', `bundle is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  // The strict parser yields null-prototype objects; protobuf-specs' fromJSON wants plain data.
  const plain = JSON.parse(JSON.stringify(doc)) as { mediaType?: unknown; verificationMaterial?: { x509CertificateChain?: unknown } };
  if (V03.has(plain.mediaType as string) && plain.verificationMaterial?.x509CertificateChain !== undefined) {
    // The OMS certificate form puts a whole chain under the v0.3 media type, which @sigstore/bundle
    // allows only up to v0.2: validate it as the v0.2 shape it is, keep everything else as strict.
    const b = parseSigstoreBundle({ ...plain, mediaType: V02 });
    return { ...b, mediaType: plain.mediaType as string };
  }
  return parseSigstoreBundle(plain);
}

const V02 = 'application/vnd.dev.sigstore.bundle+json;version=0.2';
const V03 = new Set(['application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle+json;version=0.3']);

/**
 * An in-toto Statement from its exact bytes (strict JSON: duplicate keys rejected). Returns plain
 * data. `types` lists the accepted `_type`s: verification also reads cosign's older v0.1.
 */
export function parseInTotoStatement(payload: Buffer, types: readonly string[] = STATEMENT_TYPES): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(payload), 'statement');
  } catch (err) {
    throw new ModelsealError('PAYLOAD_INVALID', `statement is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const s = doc as Record<string, unknown> | null;
  if (typeof s !== 'object' || s === null || !types.includes(s._type as string) || !Array.isArray(s.subject) || typeof s.predicateType !== 'string') {
    throw new ModelsealError('PAYLOAD_INVALID', `payload is not an in-toto Statement (_type ${types.join(' or ')}, subject[], predicateType)`);
  }
  return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
}

type SignatureCheck = (key: KeyObject, signature: Buffer) => boolean;

async function firstAccepting(authorities: Authority[], bundle: Bundle, signature: Buffer, check: SignatureCheck): Promise<SignerIdentity> {
  if (authorities.length === 0) throw new ModelsealError('CONFIG_INVALID', 'no trusted authority configured');
  const failures: ModelsealError[] = [];
  for (const authority of authorities) {
    try {
      return verifyWith(authority, bundle, signature, check);
    } catch (err) {
      if (!(err instanceof ModelsealError)) throw err;
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0]!;
  throw new ModelsealError('UNTRUSTED_SIGNER', `no trusted authority accepted the signature: ${failures.map((f) => f.message).join('; ')}`, {
    details: { failures: failures.map((f) => ({ code: f.code, message: f.message })) },
  });
}

function verifyWith(authority: Authority, bundle: Bundle, signature: Buffer, check: SignatureCheck): SignerIdentity {
  switch (authority.kind) {
    case 'sigstore':
      return verifyKeylessBundle(bundle, authority satisfies SigstoreAuthority, check);
    case 'key':
      return verifyWithKey(authority, bundle, signature, check);
    case 'certificate':
      return verifyWithChain(authority, bundle, signature, check);
    case 'notation':
      return onlyNotationSignatures('Sigstore bundle');
  }
}

/** Certificate method, as for model bundles: a trusted chain, then the leaf's key signed it. */
function verifyWithChain(authority: Extract<Authority, { kind: 'certificate' }>, bundle: Bundle, signature: Buffer, check: SignatureCheck): SignerIdentity {
  const m = bundle.verificationMaterial.content;
  const chain =
    m.$case === 'x509CertificateChain' ? m.x509CertificateChain.certificates.map((c) => Buffer.from(c.rawBytes))
    : m.$case === 'certificate' ? [Buffer.from(m.certificate.rawBytes)]
    : [];
  if (chain.length === 0) throw new ModelsealError('UNTRUSTED_SIGNER', 'the bundle is signed with a bare key, but the authority trusts certificate chains');
  const who = verifyChainSignature(chain, authority.anchors, (key) => check(key, signature));
  return { ...who, ...(authority.name === undefined ? {} : { authority: authority.name }) };
}

function verifyWithKey(authority: Extract<Authority, { kind: 'key' }>, bundle: Bundle, signature: Buffer, check: SignatureCheck): SignerIdentity {
  if (authority.publicKeys.length === 0) throw new ModelsealError('CONFIG_INVALID', 'a key authority lists no public keys');
  const hint = bundle.verificationMaterial.content.$case === 'publicKey' ? bundle.verificationMaterial.content.publicKey.hint : undefined;
  // Hints only order the attempt (traps T6–T8): the configured keys are the trust.
  const keys = [...authority.publicKeys].sort((a, b) => Number(hintNames(b, hint)) - Number(hintNames(a, hint)));
  for (const key of keys) {
    ecCurveOf(key);
    if (check(publicKeyOf(key), signature)) {
      return { method: 'key', identity: keyIdentity(key), ...(authority.name === undefined ? {} : { authority: authority.name }) };
    }
  }
  throw new ModelsealError('SIGNATURE_INVALID', `signature does not verify with the configured key(s) ${authority.publicKeys.map(keyIdentity).join(', ')}`);
}

function hintNames(key: KeyObject, hint: string | undefined): boolean {
  return hint !== undefined && hint !== '' && (hint === cosignKeyHint(key) || hint === omsKeyHint(key));
}
