import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { verifyInPlace } from '../../src/app/verify.js';
import { candidateOf } from '../../src/signatures/candidate.js';
import type { Authority } from '../../src/signatures/core/types.js';
import type { TrustRequirements } from '../../src/trust/types.js';
import { trustOf } from './trust.js';

/** `modelseal verify` on a local directory with its in-tree model.sig, as the CLI runs it. */
export async function verifyLocal(dir: string, authorities: Authority[], requirements: Partial<TrustRequirements> = {}) {
  const sig = path.join(dir, 'model.sig');
  return verifyInPlace({
    path: dir,
    candidates: [candidateOf('oms', sig, await readFile(sig))],
    trust: trustOf(authorities, requirements),
    local: { gitPaths: true, signatureFiles: ['model.sig'] },
  });
}
