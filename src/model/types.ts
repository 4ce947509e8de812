/** The OMS v1.0 manifest as modelseal holds it in memory (model_signing: manifest.py). */

import type { HashAlgorithm } from '../hashing/algorithms.js';

export type { HashAlgorithm };
export type SerializationMethod = 'files' | 'shards';

/** One signed item: a whole file (`files`) or a byte range of one (`shards`, name `<path>:<start>:<end>`). */
export interface Resource {
  name: string;
  /** As written in the bundle: `sha256`, `blake2b`, or Python's `sha256-sharded-<n>` (trap T2). */
  algorithm: string;
  /** Lowercase hex. */
  digest: string;
}

export interface Serialization {
  method: SerializationMethod;
  hashType: HashAlgorithm;
  allowSymlinks: boolean;
  /** Only for `shards`; integral (trap T3: may arrive as a float in JSON). */
  shardSize?: number;
  /** Model-relative POSIX paths; signer-controlled (trap T16). */
  ignorePaths: string[];
}

export interface Manifest {
  /** Model directory basename; the in-toto subject name. */
  modelName: string;
  serialization: Serialization;
  /** In the order that defines the root digest (verify: as given; sign: code-point order). */
  resources: Resource[];
}

/** A parsed shard name. `path` keeps any `:` it contains; the last two fields are integers (spec §6.3.2). */
export interface ShardName {
  path: string;
  start: number;
  end: number;
}
