import { createHash } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import type { Authority } from '../../signatures/core/types.js';
import { candidatesOfKind } from '../../signatures/registry.js';
import type { CheckFacts, StagedModel } from './staged.js';

function looksLikeBundle(bytes: Uint8Array): boolean {
  try {
    const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    return typeof j.mediaType === 'string' && j.mediaType.includes('sigstore.bundle') && typeof j.dsseEnvelope === 'object';
  } catch {
    return false;
  }
}

/**
 * A signed SBOM for exactly these files: an SBOM bundle (in-toto statement whose predicate is
 * the SBOM and whose subject is the model's root digest) from a trusted authority, whose file
 * list matches the staged files byte for byte. Attachments are read one at a time, bounded by
 * the store, and only because the policy asks.
 */
export async function requireSignedSbom(staged: StagedModel, authorities: Authority[]): Promise<NonNullable<CheckFacts['sbom']>> {
  // The SBOM schemas and the Sigstore verifier cost ~30 MiB and ~0.3 s: loaded only when a policy asks.
  const { CYCLONEDX_PREDICATE, SPDX_PREDICATE } = await import('../../sbom/parse.js');
  const { verifySbom } = await import('../../sbom/verify.js');
  const { verifyStatementBundle } = await import('../../signatures/blob/verify.js');
  const predicates = new Set([CYCLONEDX_PREDICATE, SPDX_PREDICATE]);
  const rootDigest = staged.chosen.verified.rootDigest;
  let plain = false;
  let bundles = 0;
  let last: unknown;
  for await (const c of candidatesOfKind(staged.candidates, ['sbom'], (_c, err) => (last = err))) {
    if (!looksLikeBundle(c.bytes)) {
      plain = true;
      continue;
    }
    bundles++;
    try {
      const { statement } = await verifyStatementBundle(c.bytes, authorities);
      const st = statement as { predicateType?: unknown; predicate?: unknown };
      if (typeof st.predicateType !== 'string' || !predicates.has(st.predicateType)) continue;
      const doc = Buffer.from(JSON.stringify(st.predicate));
      const v = await verifySbom(doc, staged.dir, { bundle: c.bytes, authorities, requireSignature: true, ignorePaths: [...staged.ignores] });
      if (rootDigest && v.rootDigest !== rootDigest) {
        throw new ModelsealError('SBOM_INVALID', `the SBOM describes sha256:${v.rootDigest}, not the signed model sha256:${rootDigest}`);
      }
      return { origin: c.candidate.origin, sha256: createHash('sha256').update(c.bytes).digest('hex'), ...(v.signer ? { signer: v.signer } : {}) };
    } catch (err) {
      last = err;
    }
  }
  if (bundles === 0) {
    throw new ModelsealError('SBOM_REQUIRED', plain ? 'the model has an SBOM but no signed SBOM bundle' : 'the policy requires a signed SBOM and none was found');
  }
  if (last instanceof ModelsealError && last.exitCode !== 3) throw last;
  throw new ModelsealError('SBOM_REQUIRED', `no SBOM bundle verified: ${last instanceof Error ? last.message : 'none had an SBOM predicate'}`);
}
