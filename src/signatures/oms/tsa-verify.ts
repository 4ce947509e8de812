import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RFC3161Timestamp, X509Certificate as SigstoreCertificate } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
// Not re-exported by the package index (see core/sigstore-verify.ts for the same import).
import { getTSATimestamp } from '@sigstore/verify/dist/timestamp/index.js';
import { ModelsealError } from '../../errors.js';
import { isPlainObject } from '../../formats/strict-json.js';
import { loadCertificates } from '../core/keys.js';
import { certFacts, oneLineName } from '../core/x509-facts.js';

/**
 * Offline verification of the RFC 3161 timestamps in a key or certificate bundle
 * (`verificationMaterial.timestampVerificationData.rfc3161Timestamps`) against TSA certificate
 * chains the verifier trusts (`--tsa-cert-chain`: TSA leaf first, then its issuers up to a
 * root). A timestamp counts only when its token verifies: signature under a trusted TSA leaf
 * whose chain was valid at `genTime`, imprint = SHA-256 of the bundle's signature. Tokens that do
 * not verify are ignored, as for keyless bundles (sigstore-go and sigstore-python do the same):
 * they can only fail to help, never let a signature through.
 */

const MAX_TIMESTAMPS = 8;
const TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A trusted TSA: its signing certificate first, then issuers to a root. */
export type TsaChain = X509Certificate[];

/** Check a configured chain once, at load: the leaf must be a time-stamping certificate (RFC 3161 §2.3). */
export function checkTsaChain(chain: TsaChain, where: string): TsaChain {
  const leaf = chain[0];
  if (!leaf) throw new ModelsealError('CONFIG_INVALID', `${where} holds no certificate`);
  const eku = certFacts(leaf).extKeyUsage;
  if (!eku || eku.length !== 1 || eku[0] !== TIME_STAMPING) {
    throw new ModelsealError('CONFIG_INVALID', `${where}: the first certificate (${oneLineName(leaf.subject)}) must be a TSA certificate whose only extended key usage is timeStamping (RFC 3161 §2.3)`);
  }
  return chain;
}

type CertAuthority = TrustMaterial['timestampAuthorities'][number];

function authorities(chains: TsaChain[]): CertAuthority[] {
  return chains.map((chain) => ({
    certChain: chain.map((c) => SigstoreCertificate.parse(c.raw)),
    // Each certificate's own validity is checked at genTime by the chain verifier; the trust
    // configuration adds no window of its own.
    validFor: { start: new Date(0), end: new Date(8.64e15) },
  }));
}

/** The raw timestamps a bundle carries (base64 DER TimeStampResp each). */
export function bundleTimestamps(bundleJson: unknown): Buffer[] {
  const vm = isPlainObject(bundleJson) ? bundleJson.verificationMaterial : undefined;
  const tvd = isPlainObject(vm) ? vm.timestampVerificationData : undefined;
  const list = isPlainObject(tvd) ? tvd.rfc3161Timestamps : undefined;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new ModelsealError('BUNDLE_INVALID', 'timestampVerificationData.rfc3161Timestamps must be an array');
  if (list.length > MAX_TIMESTAMPS) throw new ModelsealError('BUNDLE_INVALID', `bundle carries ${list.length} timestamps, more than ${MAX_TIMESTAMPS}`);
  return list.map((t, i) => {
    const b64 = isPlainObject(t) ? t.signedTimestamp : undefined;
    if (typeof b64 !== 'string' || !BASE64.test(b64)) throw new ModelsealError('BUNDLE_INVALID', `rfc3161Timestamps[${i}].signedTimestamp is not base64`);
    return Buffer.from(b64, 'base64');
  });
}

/**
 * The times the trusted TSAs vouch the signature existed, earliest first; empty when the bundle
 * has no timestamp or none verifies.
 */
export function verifiedSigningTimes(bundleJson: unknown, signature: Buffer, chains: readonly TsaChain[]): Date[] {
  const raw = bundleTimestamps(bundleJson);
  if (raw.length === 0 || chains.length === 0) return [];
  const tsas = authorities([...chains]);
  const times: Date[] = [];
  for (const der of raw) {
    try {
      const ts = RFC3161Timestamp.parse(Buffer.from(der));
      if (Number(ts.status) !== 0 && Number(ts.status) !== 1) continue;
      times.push(getTSATimestamp(ts, signature, tsas).timestamp);
    } catch {
      // Unparseable or untrusted: it proves nothing, and does not count.
    }
  }
  return times.sort((a, b) => a.getTime() - b.getTime());
}

/** `--tsa-cert-chain` files: each one TSA's chain, PEM, TSA certificate first. */
export async function loadTsaChainFiles(files: readonly string[]): Promise<TsaChain[]> {
  const chains: TsaChain[] = [];
  for (const file of files) {
    const pem = await readFile(file, 'utf8').catch(() => {
      throw new ModelsealError('CONFIG_INVALID', `cannot read TSA certificate chain ${file}`);
    });
    chains.push(checkTsaChain(loadCertificates(pem, file), file));
  }
  return chains;
}
