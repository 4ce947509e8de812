import { ModelsealError } from '../errors.js';
import type { Authority, SignerIdentity } from '../signatures/core/types.js';
import { verifyCosignSignatures } from '../signatures/cosign/verify.js';
import { notationSubject, verifyNotationSignatures } from '../signatures/notation/candidates.js';
import { verifyModelSignature } from '../signatures/oms/verify.js';
import { classifyBundle } from '../signatures/registry.js';
import type { OciClientOptions } from '../stores/oci/client.js';
import { createOciSource } from '../stores/oci/source.js';

export interface InspectReport {
  reference: string;
  resolvedDigest: string;
  mediaType: string;
  artifactType?: string;
  configMediaType: string;
  format: string;
  /** From the manifest alone (no layer is downloaded): tar layers appear by their declared path. */
  files: Array<{ path: string; size: number; sha256?: string; packed: string; layer: string }>;
  signatures: Array<{
    kind: string;
    origin: string;
    /** undefined when no authority was given. */
    verified?: boolean;
    signer?: SignerIdentity;
    /** OMS: signed files whose digests disagree with raw layer digests, or are missing. */
    mismatches?: string[];
    reason?: string;
  }>;
  referrersVia: string;
  problems: string[];
}

/** What is in an OCI artefact and which of its signatures verify, without downloading layers. */
export async function inspectOci(ref: string, opts: OciClientOptions & { authorities?: Authority[] }): Promise<InspectReport> {
  const src = createOciSource(ref, opts);
  try {
    const r = await src.resolve();
    const lay = await src.layout();
    const disc = await src.discovery();
    const files = lay.layers.map((l) => ({
      path: l.path === '' ? '.' : l.path,
      size: l.tarFile?.size ?? l.desc.size,
      ...(l.packing === 'raw' ? { sha256: l.desc.digest.slice(7) } : {}),
      packed: l.packing,
      layer: l.desc.digest,
    }));
    const rawByPath = new Map(files.filter((f) => f.sha256).map((f) => [f.path, f.sha256!]));
    const signatures: InspectReport['signatures'] = [];
    const auth = opts.authorities;
    const cosignOk = auth?.length ? await verifyCosignSignatures(disc.candidates, r.resolvedDigest!, auth) : [];
    for (const c of disc.candidates) {
      let kind: string = c.kind;
      let bytes: Uint8Array | undefined;
      // Unlabelled bundles are read (bounded) to say what they are; weights never are.
      if (c.kind === 'bundle' || (c.kind === 'oms' && auth?.length)) {
        try {
          bytes = await c.read();
          if (c.kind === 'bundle') kind = classifyBundle(bytes);
        } catch (err) {
          signatures.push({ kind, origin: c.origin, verified: false, reason: err instanceof ModelsealError ? `${err.code}: ${err.message}` : String(err) });
          continue;
        }
      }
      const base = { kind, origin: c.origin };
      if (kind === 'notation' && auth?.some((a) => a.kind === 'notation')) {
        try {
          const [ok] = await verifyNotationSignatures([c], notationSubject(r), auth, { throwIfNone: true });
          signatures.push({ ...base, verified: true, signer: ok!.signer });
        } catch (err) {
          if (!(err instanceof ModelsealError)) throw err;
          signatures.push({ ...base, verified: false, reason: `${err.code}: ${err.message}` });
        }
        continue;
      }
      if (!auth?.length || kind === 'notation' || kind === 'sbom') {
        signatures.push(base);
        continue;
      }
      if (kind === 'oms') {
        try {
          const v = await verifyModelSignature(bytes!, auth);
          const mismatches: string[] = [];
          for (const res of v.manifest.resources) {
            const have = rawByPath.get(res.name);
            if (v.manifest.serialization.method === 'files' && have !== undefined && have !== res.digest) mismatches.push(`${res.name}: layer digest differs`);
          }
          signatures.push({ ...base, verified: mismatches.length === 0, signer: v.signer, ...(mismatches.length ? { mismatches } : {}) });
        } catch (err) {
          signatures.push({ ...base, verified: false, reason: err instanceof ModelsealError ? `${err.code}: ${err.message}` : String(err) });
        }
        continue;
      }
      const ok = cosignOk.find((v) => v.origin === c.origin);
      signatures.push({ ...base, verified: !!ok, ...(ok ? { signer: ok.signer } : { reason: 'does not verify for this digest with the given authorities' }) });
    }
    const facts = r.facts ?? {};
    return {
      reference: ref,
      resolvedDigest: r.resolvedDigest!,
      mediaType: String(facts.mediaType),
      ...(lay.artifactType ? { artifactType: lay.artifactType } : {}),
      configMediaType: lay.configMediaType,
      format: lay.format,
      files,
      signatures,
      referrersVia: disc.referrersVia,
      problems: disc.problems,
    };
  } finally {
    await src.close();
  }
}
