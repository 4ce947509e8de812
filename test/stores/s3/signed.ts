import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { serializeDirectory } from '../../../src/model/serialize.js';
import { signManifest } from '../../../src/signatures/oms/sign.js';
import { publishS3 } from '../../../src/stores/s3/index.js';
import type { S3Options } from '../../../src/stores/s3/options.js';
import type { Authority } from '../../../src/signatures/core/types.js';
import { tempDir } from '../../harness/process.js';
import type { ModelFixture } from './helpers.js';

/** A P-256 release key: the signature the real pipeline verifies before any weight moves. */
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const trusted: Authority[] = [{ kind: 'key', name: 'release', publicKeys: [publicKey] }];

/** Sign the fixture as `modelseal sign` would (OMS files/sha256) and publish it to `url`. */
export async function publishSigned(model: ModelFixture, url: string, s3: S3Options): Promise<string> {
  const manifest = await serializeDirectory(model.dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['.git', 'model.sig'] });
  const bundleJson = await signManifest(manifest, { kind: 'key', privateKey });
  await publishS3({ dir: model.dir, url, files: model.files, bundleJson, s3 });
  return bundleJson;
}

export async function target(): Promise<string> {
  return path.join(await tempDir('s3into'), 'served', 'model');
}

/** What is left beside the target: nothing after a refusal (no staging, no partial model). */
export async function leftovers(into: string): Promise<string[]> {
  return readdir(path.dirname(into)).catch(() => []);
}

export async function placedMatches(into: string, model: ModelFixture): Promise<boolean> {
  for (const [rel, buf] of model.bytes) if (!(await readFile(path.join(into, rel))).equals(buf)) return false;
  return true;
}
