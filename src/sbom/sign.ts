import { signStatement } from '../signatures/blob/sign.js';
import type { SignerSpec } from '../signatures/core/signer.js';
import { parseSbom, type ParsedSbom } from './parse.js';

/**
 * The SBOM travels as a detached in-toto attestation (as `cosign attest --type cyclonedx`):
 * JSF enveloped signatures have no JavaScript implementation, DSSE bundles are what modelseal
 * already verifies. The subject is the model's OMS root digest, so the SBOM is bound to the model.
 */
export function sbomStatement(sbom: ParsedSbom): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: sbom.modelName, digest: { sha256: sbom.rootDigest } }],
    predicateType: sbom.predicateType,
    predicate: sbom.document,
  };
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/** Validates the SBOM, then signs its statement into a Sigstore bundle (JSON text). */
export async function signSbom(sbomBytes: Uint8Array, signer: SignerSpec): Promise<string> {
  return signStatement(sbomStatement(await parseSbom(sbomBytes)), signer);
}
