import { ModelsealError } from '../../errors.js';
import { envelopeError } from './envelope.js';
import { strictJsonObject } from './json.js';

/** What a signature is over, and what the caller pulled: an OCI descriptor's identifying triple. */
export interface NotationSubject {
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * The signed payload (`application/vnd.cncf.notary.payload.v1+json`): `{"targetArtifact": <OCI
 * descriptor>}`. Its mediaType, digest and size must all equal the descriptor the caller
 * resolved (trust-store-trust-policy.md, integrity step), else the signature is for something else.
 */
export function checkTargetArtifact(payload: Buffer, subject: NotationSubject): NotationSubject {
  const p = strictJsonObject(payload, 'Notation payload');
  const t = p.targetArtifact;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) envelopeError('payload has no targetArtifact descriptor');
  const d = t as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    envelopeError('targetArtifact must carry mediaType, digest and a non-negative integer size');
  }
  const signed = { digest: d.digest, mediaType: d.mediaType, size: d.size };
  const differs = (['digest', 'mediaType', 'size'] as const).filter((k) => signed[k] !== subject[k]);
  if (differs.length) {
    throw new ModelsealError(
      'SUBJECT_MISMATCH',
      `Notation signature is for ${signed.mediaType} ${signed.digest} (${signed.size} bytes), not the pulled ${subject.mediaType} ${subject.digest} (${subject.size} bytes)`,
      { details: { check: 'integrity', differs } },
    );
  }
  return signed;
}
