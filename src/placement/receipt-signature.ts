import { isDeepStrictEqual } from 'node:util';
import { ModelsealError } from '../errors.js';
import { signStatement } from '../signatures/blob/sign.js';
import { verifyStatementBundle } from '../signatures/blob/verify.js';
import type { SignerSpec } from '../signatures/core/signer.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import type { Receipt } from './receipt.js';

/**
 * A signed receipt: a DSSE in-toto statement whose predicate is the receipt and whose subject is
 * the model's root digest, in a Sigstore bundle beside it (`<receipt>.sigstore.json`). An unsigned
 * receipt is only a pointer to the model's own bundle; a signed one also proves where and when
 * the deploying party placed which digest.
 */
export const RECEIPT_PREDICATE = 'https://modelseal.dev/receipt/v1';

export function receiptBundlePath(receiptPath: string): string {
  return `${receiptPath}.sigstore.json`;
}

export async function signReceipt(receipt: Receipt, signer: SignerSpec): Promise<string> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: receipt.reference, digest: { sha256: receipt.model.rootDigest ?? receipt.signature.bundleSha256 } }],
    predicateType: RECEIPT_PREDICATE,
    predicate: receipt,
  };
  return signStatement(Buffer.from(JSON.stringify(statement)), signer);
}

/** The receipt must be exactly what was signed, by one of `authorities`. */
export async function verifyReceiptSignature(receipt: unknown, bundle: Uint8Array, authorities: Authority[]): Promise<SignerIdentity> {
  const { statement, signer } = await verifyStatementBundle(bundle, authorities);
  const st = statement as { predicateType?: unknown; predicate?: unknown };
  if (st.predicateType !== RECEIPT_PREDICATE) {
    throw new ModelsealError('PAYLOAD_INVALID', `receipt bundle predicateType ${JSON.stringify(st.predicateType)} is not ${RECEIPT_PREDICATE}`);
  }
  if (!isDeepStrictEqual(st.predicate, receipt)) throw new ModelsealError('SIGNATURE_INVALID', 'the receipt differs from the one that was signed');
  return signer;
}
