import { ModelsealError, isModelsealError, type ErrorCode } from '../../errors.js';
import { parseBundle, type MaterialKind, type ParsedBundle } from './bundle.js';
import { verifyWithCertificates } from '../core/certificate.js';
import { verifyWithKeys } from './key.js';
import { onlyNotationSignatures } from '../notation/only-notation.js';
import type { Authority, SignerIdentity, VerifiedModelSignature } from '../core/types.js';

const MATERIAL: Record<MaterialKind, string> = {
  key: 'a public key (publicKey)',
  certificate: 'a certificate chain (x509CertificateChain)',
  sigstore: 'a Sigstore certificate (keyless)',
};

async function verifyWith(bundle: ParsedBundle, authority: Authority): Promise<SignerIdentity> {
  switch (authority.kind) {
    case 'key': {
      const times = await signingTimes(bundle, authority);
      return withSignedAt(verifyWithKeys(bundle, authority.publicKeys), times);
    }
    case 'certificate': {
      // A verified timestamp proves the signature existed then: the chain must be valid at every
      // such time (so a signature outlives its certificate); without one, it must be valid now.
      const times = await signingTimes(bundle, authority);
      if (times.length === 0) return verifyWithCertificates(bundle, authority.anchors);
      let who: SignerIdentity | undefined;
      for (const t of times) who = verifyWithCertificates(bundle, authority.anchors, t);
      return withSignedAt(who!, times);
    }
    case 'sigstore':
      // Loaded only for keyless bundles: key and certificate checks need none of sigstore-js.
      const { verifySigstoreBundle } = await import('../core/sigstore-verify.js');
      return verifySigstoreBundle(bundle.json, bundle.payload, authority);
    case 'notation':
      return onlyNotationSignatures('OMS');
  }
}

async function signingTimes(bundle: ParsedBundle, authority: Extract<Authority, { kind: 'key' | 'certificate' }>): Promise<Date[]> {
  if (!authority.timestampAuthorities?.length) return [];
  // Loaded only when TSAs are trusted: it pulls in sigstore-js, which plain key checks never need.
  const { verifiedSigningTimes } = await import('./tsa-verify.js');
  return verifiedSigningTimes(bundle.json, bundle.signature, authority.timestampAuthorities);
}

function withSignedAt(who: SignerIdentity, times: Date[]): SignerIdentity {
  return times[0] === undefined ? who : { ...who, signedAt: times[0].toISOString() };
}

function authorityName(a: Authority, i: number): string {
  return a.name ?? `${a.kind} authority #${i + 1}`;
}

/**
 * Verify an OMS bundle's signature and statement against the trusted authorities: the first
 * authority of the bundle's kind that accepts it wins. Says nothing about the model's files:
 * the caller compares those with the returned manifest.
 */
export async function verifyModelSignature(bundleBytes: Uint8Array, authorities: Authority[]): Promise<VerifiedModelSignature> {
  const bundle = parseBundle(bundleBytes);
  const kind = bundle.material.kind;
  const candidates = authorities.map((a, i) => ({ a, name: authorityName(a, i) })).filter(({ a }) => a.kind === kind);
  if (candidates.length === 0) {
    const have = authorities.length === 0 ? 'none' : authorities.map(authorityName).join(', ');
    throw new ModelsealError('UNTRUSTED_SIGNER', `the bundle is signed with ${MATERIAL[kind]}, but no ${kind} authority is configured (configured: ${have})`);
  }
  const failures: { name: string; err: ModelsealError }[] = [];
  for (const { a, name } of candidates) {
    try {
      const signer = await verifyWith(bundle, a);
      const { statement } = bundle;
      return {
        manifest: statement.manifest,
        ...(statement.rootDigest === undefined ? {} : { rootDigest: statement.rootDigest }),
        predicateType: statement.predicateType,
        signer: { ...signer, ...(a.name === undefined ? {} : { authority: a.name }) },
      };
    } catch (err) {
      if (!isModelsealError(err)) throw err;
      failures.push({ name, err });
    }
  }
  if (failures.length === 1) throw failures[0]!.err;
  const codes = new Set<ErrorCode>(failures.map((f) => f.err.code));
  const code: ErrorCode = codes.size === 1 ? [...codes][0]! : 'UNTRUSTED_SIGNER';
  throw new ModelsealError(code, `no configured authority accepted the signature: ${failures.map((f) => `${f.name}: ${f.err.message}`).join('; ')}`);
}
