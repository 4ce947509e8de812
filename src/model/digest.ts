import { createHash } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import type { Resource } from './types.js';

const HEX = /^[0-9a-f]+$/;

/**
 * OMS root digest: SHA-256 over the concatenated raw digests in the order the resources are
 * listed (spec §5.2; always SHA-256, even for BLAKE2 resources). Never re-sorts: bundles from
 * Python and from spec-order signers must both verify (trap T1).
 */
export function rootDigest(resources: Resource[]): string {
  const h = createHash('sha256');
  for (const r of resources) {
    if (!HEX.test(r.digest) || r.digest.length % 2 !== 0) {
      throw new ModelsealError('PAYLOAD_INVALID', `resource ${JSON.stringify(r.name)} has a digest that is not lowercase hex`);
    }
    h.update(Buffer.from(r.digest, 'hex'));
  }
  return h.digest('hex');
}
