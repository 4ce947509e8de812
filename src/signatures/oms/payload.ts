import { ModelsealError } from '../../errors.js';
import { rootDigest } from '../../model/digest.js';
import type { Manifest } from '../../model/types.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const OMS_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
/** model_signing v0.2: one subject per file, no predicate content, no root digest. */
export const LEGACY_PREDICATE_TYPE = 'https://model_signing/Digests/v0.1';

/** The OMS v1.0 in-toto statement for a manifest; resources keep the manifest's order (it defines the root). */
export function buildStatement(manifest: Manifest): Record<string, unknown> {
  if (manifest.resources.length === 0) {
    // Go and modelseal verifiers reject empty manifests (trap T18): never produce one.
    throw new ModelsealError('USAGE', `model ${JSON.stringify(manifest.modelName)} has no files to sign`);
  }
  if (manifest.modelName === '') throw new ModelsealError('USAGE', 'the model name (statement subject) must not be empty');
  const s = manifest.serialization;
  const serialization: Record<string, unknown> = {
    method: s.method,
    hash_type: s.hashType,
    allow_symlinks: s.allowSymlinks,
    ignore_paths: s.ignorePaths,
  };
  if (s.method === 'shards') {
    if (s.shardSize === undefined || !Number.isSafeInteger(s.shardSize) || s.shardSize <= 0) {
      throw new ModelsealError('USAGE', 'a shards manifest needs a positive integral shard size');
    }
    serialization.shard_size = s.shardSize;
  }
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: manifest.modelName, digest: { sha256: rootDigest(manifest.resources) } }],
    predicateType: OMS_PREDICATE_TYPE,
    predicate: {
      serialization,
      resources: manifest.resources.map((r) => ({ name: r.name, algorithm: r.algorithm, digest: r.digest })),
    },
  };
}

/** The exact DSSE payload bytes for a manifest. */
export function statementPayload(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(buildStatement(manifest)), 'utf8');
}
