import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { assertSafeRelativePath } from '../model/names.js';
import type { ModelSource } from './types.js';

/**
 * Copy a source's files into a fresh directory with no signature check: for tools that describe
 * a remote model (SBOM generation), not for placing it where it will be served — that is pull().
 * The source still checks its own digests (OCI layers, S3 checksums and version pins).
 */
export async function downloadUnverified(source: ModelSource, dir: string, concurrency = 4): Promise<string> {
  const resolved = await source.resolve();
  const entries = await source.list();
  try {
    await source.fetch(
      entries,
      async (f) => {
        assertSafeRelativePath(f.path, 'source file');
        const dest = path.join(dir, ...f.path.split('/'));
        await mkdir(path.dirname(dest), { recursive: true });
        await pipeline(f.stream, createWriteStream(dest, { flags: 'wx' }));
      },
      { concurrency },
    );
  } finally {
    await source.close();
  }
  return resolved.resolvedDigest ?? resolved.reference;
}
