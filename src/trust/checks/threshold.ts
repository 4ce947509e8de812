import { ModelsealError } from '../../errors.js';
import type { Authority } from '../../signatures/core/types.js';
import { verifyModelSignature } from '../../signatures/oms/verify.js';
import type { StagedModel } from './staged.js';

export function authorityName(a: Authority, i: number): string {
  return a.name ?? `authority-${i + 1}`;
}

/**
 * The distinct authorities that each signed exactly these files. A signature counts for one
 * authority at most, one signer identity counts once (two policy names for the same key are one
 * signer), and a signature counts only if it covers exactly the files being placed — names and
 * digests, whatever its predicate version (a v0.2 bundle carries no root digest to compare).
 */
export async function agreeingAuthorities(staged: StagedModel, authorities: Authority[]): Promise<string[]> {
  const agreeing: string[] = [];
  const usedSignature = new Set<number>();
  const usedSigner = new Set<string>();
  for (const [i, a] of authorities.entries()) {
    if (a.kind === 'notation') {
      // A Notation signature names the pulled manifest, whose layers are the files just verified.
      if (!staged.manifestDescriptor) continue;
      const { verifyNotationSignatures } = await import('../../signatures/notation/candidates.js');
      const ok = (await verifyNotationSignatures([...staged.candidates], staged.manifestDescriptor, [a]))[0];
      const who = ok ? `${ok.signer.method}:${ok.signer.identity}:${ok.signer.issuer ?? ''}` : undefined;
      if (who !== undefined && !usedSigner.has(who)) {
        usedSigner.add(who);
        agreeing.push(authorityName(a, i));
      }
      continue;
    }
    for (const [j, v] of staged.found.verified.entries()) {
      if (usedSignature.has(j)) continue;
      let signer;
      let manifest;
      try {
        ({ signer, manifest } = await verifyModelSignature(v.bytes, [a]));
      } catch {
        continue; // this authority did not sign this bundle
      }
      const who = `${signer.method}:${signer.identity}:${signer.issuer ?? ''}`;
      if (usedSigner.has(who) || !(await staged.signsTheseFiles(manifest))) continue;
      usedSignature.add(j);
      usedSigner.add(who);
      agreeing.push(authorityName(a, i));
      break;
    }
  }
  return agreeing;
}

export async function requireThreshold(staged: StagedModel, authorities: Authority[], threshold: number): Promise<string[]> {
  const agreeing = await agreeingAuthorities(staged, authorities);
  if (agreeing.length < threshold) {
    throw new ModelsealError('POLICY_VIOLATION', `policy needs ${threshold} authorities to sign this model; ${agreeing.length} did (${agreeing.join(', ') || 'none'})`);
  }
  return agreeing;
}
