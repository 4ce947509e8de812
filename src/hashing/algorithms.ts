import { ModelsealError } from '../errors.js';

/** The hash algorithms OMS manifests name (model/types re-exports this). */
export type HashAlgorithm = 'sha256' | 'blake2b' | 'blake3';

/**
 * OMS hash names → the names the hash workers take: OpenSSL's, and `blake3`, which is not in
 * Node's OpenSSL and runs in WebAssembly inside the workers (hasher-source.ts).
 */
export function opensslName(alg: HashAlgorithm | string): string {
  switch (alg) {
    case 'sha256':
      return 'sha256';
    case 'blake2b':
      return 'blake2b512';
    case 'blake3':
      return 'blake3';
    default:
      throw new ModelsealError('PAYLOAD_INVALID', `hash algorithm ${JSON.stringify(alg)} is not supported (sha256, blake2b, blake3)`);
  }
}

/**
 * The algorithm a resource names, normalised: Python writes `sha256-sharded-<n>` for shards (trap T2).
 */
export function resourceHashType(algorithm: string): HashAlgorithm {
  if (algorithm === 'sha256' || /^sha256-sharded-\d+(\.0)?$/.test(algorithm)) return 'sha256';
  if (algorithm === 'blake2b' || /^blake2b-sharded-\d+(\.0)?$/.test(algorithm)) return 'blake2b';
  if (algorithm === 'blake3' || /^blake3-sharded-\d+(\.0)?$/.test(algorithm)) return 'blake3';
  throw new ModelsealError('PAYLOAD_INVALID', `resource algorithm ${JSON.stringify(algorithm)} is not supported`);
}
