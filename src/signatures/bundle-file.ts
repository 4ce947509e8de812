import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { MAX_BUNDLE_BYTES } from './oms/bundle.js';

/** A signature bundle from disk: a regular file, read whole only when it is bundle-sized. */
export async function readBundleFile(file: string): Promise<Buffer> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('SIGNATURE_MISSING', `cannot read signature ${file}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
  });
  if (!st.isFile()) throw new ModelsealError('SIGNATURE_MISSING', `signature ${file} is not a regular file`);
  if (st.size > MAX_BUNDLE_BYTES) throw new ModelsealError('BUNDLE_TOO_LARGE', `signature ${file} is ${st.size} bytes (limit ${MAX_BUNDLE_BYTES})`);
  return readFile(file);
}
