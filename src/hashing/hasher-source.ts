import { createRequire } from 'node:module';

/**
 * The digest engines both worker sources share, as source text (see worker-source.ts for why the
 * workers are strings). OpenSSL digests come from node:crypto; BLAKE3 is not in OpenSSL, so it
 * runs in hash-wasm's WebAssembly build, streamed like the others (update per read, no
 * whole-file buffer). hash-wasm loads lazily: SHA-256 pools never pay for it.
 *
 * `newHasher(alg)` resolves to `{ update(bytes), digest() → hex }`.
 */
export const HASHER_SOURCE = `
const { workerData } = require('node:worker_threads');
let createBLAKE3;
async function newHasher(alg) {
  if (alg === 'blake3') {
    createBLAKE3 ??= require(workerData.blake3Module).createBLAKE3;
    const h = await createBLAKE3();
    return { update: (b) => h.update(b), digest: () => h.digest('hex') };
  }
  const h = crypto.createHash(alg);
  return { update: (b) => h.update(b), digest: () => h.digest('hex') };
}
`;

/**
 * What the workers need to find hash-wasm: an absolute path, because eval'd worker code resolves
 * bare names from the working directory, not from modelseal's own node_modules.
 */
export function hasherWorkerData(): { blake3Module: string } {
  return { blake3Module: createRequire(import.meta.url).resolve('hash-wasm/dist/blake3.umd.min.js') };
}
