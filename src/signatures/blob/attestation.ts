import { ModelsealError } from '../../errors.js';
import type { Authority, SignerIdentity } from '../core/types.js';
import { describeTarget, type BlobTarget } from './target.js';
import { targetDigest, verifyStatementBundle } from './verify.js';

/**
 * cosign `verify-blob-attestation`: a DSSE in-toto bundle whose statement names the artefact as
 * a subject (by SHA-256), optionally of one predicate type. sigstore-js never matches subjects
 * (pitfall 10), so the claim is checked here, on the statement parsed from the signed bytes.
 */

/** cosign's `--type` short names (cmd/cosign/cli/options/predicate.go). */
export const PREDICATE_TYPE_NAMES: Readonly<Record<string, string>> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  link: 'https://in-toto.io/Link/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

/** A `--type` value as the predicate type URI it names: a short name, or a URI as given. */
export function predicateTypeOf(type: string): string {
  const named = PREDICATE_TYPE_NAMES[type];
  if (named !== undefined) return named;
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(type)) {
    throw new ModelsealError('USAGE', `--type ${JSON.stringify(type)} is neither a URI nor one of ${Object.keys(PREDICATE_TYPE_NAMES).join(', ')}`);
  }
  return type;
}

export interface VerifiedAttestation {
  signer: SignerIdentity;
  predicateType: string;
  /** The statement as signed (plain data). */
  statement: Record<string, unknown>;
  /** The subject that names the artefact. */
  subject: { name?: string; sha256: string };
}

export async function verifyBlobAttestation(
  target: BlobTarget,
  bundleBytes: Uint8Array,
  authorities: Authority[],
  options: { predicateType?: string } = {},
): Promise<VerifiedAttestation> {
  const { statement, signer } = await verifyStatementBundle(bundleBytes, authorities);
  const s = statement as Record<string, unknown> & { subject: unknown[]; predicateType: string };
  if (options.predicateType !== undefined && s.predicateType !== options.predicateType) {
    throw new ModelsealError('POLICY_VIOLATION', `attestation predicate type is ${JSON.stringify(s.predicateType)}, not the required ${JSON.stringify(options.predicateType)}`, {
      details: { predicateType: s.predicateType, required: options.predicateType },
    });
  }
  const want = (await targetDigest(target, 'sha256')).toString('hex');
  const subject = s.subject.map(subjectSha256).find((sub) => sub?.sha256 === want);
  if (subject === undefined) {
    throw new ModelsealError('SUBJECT_MISMATCH', `none of the statement's ${s.subject.length} subject(s) is ${describeTarget(target)} (sha256:${want})`, {
      details: { file: describeTarget(target), sha256: want },
    });
  }
  return { signer, predicateType: s.predicateType, statement: s, subject };
}

/** A subject's SHA-256 as lowercase hex, or undefined when it has none we can read. */
function subjectSha256(raw: unknown): { name?: string; sha256: string } | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { name, digest } = raw as { name?: unknown; digest?: unknown };
  const sha256 = typeof digest === 'object' && digest !== null ? (digest as Record<string, unknown>).sha256 : undefined;
  // Hex as in-toto's DigestSet; upper case is read as the same digest, anything else never matches.
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) return undefined;
  return { ...(typeof name === 'string' ? { name } : {}), sha256: sha256.toLowerCase() };
}
