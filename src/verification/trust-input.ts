import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';

const MAX_TRUST_BYTES = 4 * 1024 * 1024;

/** The public-good Sigstore trusted root snapshot shipped with modelseal (refresh: `modelseal trust refresh`). */
export const DEFAULT_TRUSTED_ROOT = new URL('../../trust/public-good-trusted-root.json', import.meta.url);

/**
 * Read a trusted_root.json or ClientTrustConfig (parsed JSON; the sigstore verifier unwraps
 * `trustedRoot`). Without a path, the shipped public-good snapshot.
 */
export async function loadTrustedRootFile(file?: string): Promise<unknown> {
  const target = file ?? DEFAULT_TRUSTED_ROOT;
  const where = String(file ?? 'the bundled public-good trusted root');
  const st = await stat(target).catch(() => {
    throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} cannot be read`);
  });
  if (st.size > MAX_TRUST_BYTES) throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} is too large`);
  try {
    return JSON.parse(await readFile(target, 'utf8')) as unknown;
  } catch (err) {
    throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} is not JSON: ${(err as Error).message}`);
  }
}
