import type { KeyObject } from 'node:crypto';

/** Signs the DSSE PAE bytes of a statement and says how to describe the signer in the bundle. */
export type SignerSpec =
  | { kind: 'key'; privateKey: KeyObject }
  | { kind: 'certificate'; privateKey: KeyObject; leafPem: string; chainPems: string[] }
  | {
      kind: 'sigstore';
      identityToken: string;
      fulcioUrl: string;
      rekorUrl: string;
      /** Rekor API: 1 (public-good today) or 2 (tile-backed; no integrated time, so pair it with a TSA). */
      rekorApiVersion?: 1 | 2;
      tsaUrl?: string;
    };
