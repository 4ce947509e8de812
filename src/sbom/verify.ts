import { isDeepStrictEqual } from 'node:util';
import { ModelsealError } from '../errors.js';
import { isPlainObject } from '../formats/strict-json.js';
import { rootDigest } from '../model/digest.js';
import { serializeDirectory } from '../model/serialize.js';
import { verifyStatementBundle } from '../signatures/blob/verify.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import { assertSbomFilesMatch, compareSbomFiles, parseSbom, type ParsedSbom } from './parse.js';

export interface VerifySbomOptions {
  /** Sigstore bundle holding the signed SBOM statement. */
  bundle?: Uint8Array;
  /** Who may sign the SBOM (from flags or the trust policy). Needed with `bundle`. */
  authorities?: Authority[];
  /** Fail when no bundle is given (pull --require-sbom). */
  requireSignature?: boolean;
  /** Model-relative paths not hashed (the SBOM and bundle if they live in the model directory). */
  ignorePaths?: string[];
  allowSymlinks?: boolean;
}

export interface VerifiedSbom {
  format: ParsedSbom['format'];
  specVersion: string;
  modelName: string;
  rootDigest: string;
  checked: number;
  complete: boolean;
  signer?: SignerIdentity;
}

/**
 * The signed statement must carry exactly this SBOM and name the model's root digest: a valid
 * signature over some other SBOM (or other model) proves nothing about this one.
 */
export async function verifySbomSignature(sbom: ParsedSbom, bundle: Uint8Array, authorities: Authority[]): Promise<SignerIdentity> {
  const { statement, signer } = await verifyStatementBundle(bundle, authorities);
  const s = statement as Record<string, unknown>;
  if (s.predicateType !== sbom.predicateType) {
    throw new ModelsealError('PAYLOAD_INVALID', `signed predicateType ${JSON.stringify(s.predicateType)} is not ${sbom.predicateType}`);
  }
  if (!isDeepStrictEqual(s.predicate, sbom.document)) {
    throw new ModelsealError('SIGNATURE_INVALID', 'the SBOM differs from the one that was signed');
  }
  const subjects = Array.isArray(s.subject) ? s.subject : [];
  const bound = subjects.some((x) => isPlainObject(x) && isPlainObject(x.digest) && x.digest.sha256 === sbom.rootDigest);
  if (!bound) throw new ModelsealError('SUBJECT_MISMATCH', `the signed statement does not name the model digest sha256:${sbom.rootDigest}`);
  return signer;
}

/** Schema, signature (when given or required), then every file re-hashed against the SBOM. */
export async function verifySbom(sbomBytes: Uint8Array, modelPath: string, opts: VerifySbomOptions = {}): Promise<VerifiedSbom> {
  const sbom = await parseSbom(sbomBytes);
  let signer: SignerIdentity | undefined;
  if (opts.bundle) {
    if (!opts.authorities?.length) throw new ModelsealError('CONFIG_INVALID', 'an SBOM signature needs at least one trusted authority');
    signer = await verifySbomSignature(sbom, opts.bundle, opts.authorities);
  } else if (opts.requireSignature) {
    throw new ModelsealError('SIGNATURE_MISSING', 'the SBOM is not signed (no bundle)');
  }
  const manifest = await serializeDirectory(modelPath, {
    method: 'files', hashType: 'sha256', allowSymlinks: opts.allowSymlinks ?? false, ignorePaths: opts.ignorePaths ?? [],
  });
  const report = compareSbomFiles(sbom, manifest.resources);
  assertSbomFilesMatch(report);
  if (sbom.complete && rootDigest(manifest.resources) !== sbom.rootDigest) {
    throw new ModelsealError('DIGEST_MISMATCH', `model root digest differs from the SBOM's sha256:${sbom.rootDigest}`);
  }
  return {
    format: sbom.format, specVersion: sbom.specVersion, modelName: sbom.modelName, rootDigest: sbom.rootDigest,
    checked: report.checked, complete: sbom.complete, ...(signer ? { signer } : {}),
  };
}
