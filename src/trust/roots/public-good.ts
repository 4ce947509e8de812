import { TrustedRoot } from '@sigstore/protobuf-specs';
import { ModelsealError } from '../../errors.js';
import { trustedRootJson } from '../../signatures/core/trusted-root.js';
import snapshot from './public-good-trusted-root.json' with { type: 'json' };

/**
 * The public-good Sigstore trusted root (Fulcio CAs, Rekor v1/v2 and CT log keys, TSA), shipped
 * so that verification works offline and never depends on a TUF fetch at pull time (sigstore-js'
 * own `verify()` cannot run offline: signing-formats.md §3.2). Taken from the `trusted_root.json`
 * target in `@sigstore/tuf@5.0.1`'s seeds.json; refresh it with `refreshPublicGoodTrustedRoot`.
 */
export const PUBLIC_GOOD_SNAPSHOT_SOURCE = '@sigstore/tuf@5.0.1 seeds.json, target trusted_root.json';

/** A fresh, validated copy of the shipped snapshot (callers may cache it; it is never mutated here). */
export function publicGoodTrustedRoot(): Record<string, unknown> {
  return trustedRootJson(structuredClone(snapshot) as unknown);
}

export interface RefreshOptions {
  /** TUF metadata cache directory (created if missing). */
  cachePath: string;
  /** TUF mirror; default https://tuf-repo-cdn.sigstore.dev. */
  mirrorURL?: string;
  timeoutMs?: number;
}

/**
 * Fetch the current trusted root through TUF (root-of-trust chain from the seeded root.json,
 * signatures and expiry checked by @sigstore/tuf), then validate it as we validate any root.
 */
export async function refreshPublicGoodTrustedRoot(options: RefreshOptions): Promise<Record<string, unknown>> {
  // Loaded lazily: the offline path never pulls in the HTTP client.
  const { getTrustedRoot } = await import('@sigstore/tuf');
  let root: TrustedRoot;
  try {
    root = await getTrustedRoot({
      cachePath: options.cachePath,
      ...(options.mirrorURL === undefined ? {} : { mirrorURL: options.mirrorURL }),
      timeout: options.timeoutMs ?? 10_000,
      retry: { retries: 2 },
    });
  } catch (err) {
    throw new ModelsealError('NETWORK', `could not refresh the Sigstore trusted root via TUF: ${(err as Error).message}`, { cause: err });
  }
  return trustedRootJson(TrustedRoot.toJSON(root));
}
