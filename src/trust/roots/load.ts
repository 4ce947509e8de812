import os from 'node:os';
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';

const MAX_TRUST_BYTES = 4 * 1024 * 1024;

/** Where `modelseal trust refresh` keeps the root it fetched through TUF. */
export function refreshedTrustRootPath(): string {
  const base = process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config');
  return path.join(base, 'modelseal', 'trusted_root.json');
}

/**
 * Read a trusted_root.json or ClientTrustConfig (parsed JSON; the sigstore verifier unwraps
 * `trustedRoot`). Without a path: $MODELSEAL_TRUST_ROOT, else the root `modelseal trust refresh`
 * fetched, else the shipped public-good snapshot.
 */
export async function loadTrustedRootFile(file?: string): Promise<unknown> {
  if (file === undefined) {
    const configured = process.env.MODELSEAL_TRUST_ROOT;
    if (configured) return loadTrustedRootFile(configured);
    const refreshed = refreshedTrustRootPath();
    if (await stat(refreshed).then((s) => s.isFile(), () => false)) return loadTrustedRootFile(refreshed);
    // Loaded only here: the snapshot and its validator are not needed for key or certificate trust.
    const { publicGoodTrustedRoot } = await import('./public-good.js');
    return publicGoodTrustedRoot();
  }
  const target = file;
  const where = file;
  const st = await stat(target).catch(() => {
    throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} cannot be read`);
  });
  if (st.size > MAX_TRUST_BYTES) throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} is too large`);
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(target, 'utf8')) as unknown;
  } catch (err) {
    throw new ModelsealError('CONFIG_INVALID', `trusted root ${where} is not JSON: ${(err as Error).message}`);
  }
  // Validated at load, so a broken root is a configuration error before any model is read.
  const { trustedRootJson } = await import('../../signatures/core/trusted-root.js');
  trustedRootJson(doc);
  return doc;
}
