import { createHash } from 'node:crypto';
import { RegistryClient, sha256Digest, type OciClientOptions } from '../../../src/stores/oci/client.js';
import { parseOciReference } from '../../../src/stores/oci/reference.js';
import { der } from './sign.js';

const NOTATION = 'application/vnd.cncf.notary.signature';
const EMPTY = Buffer.from('{}');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * Push a signature manifest as `notation sign` does (notation-go `oras.PackManifest` with
 * artifactType, or the pre-OCI-1.1 config media type) and add it to the `sha256-<hex>` fallback
 * tag index beside what is already listed there (a publish's OMS referrer).
 */
export async function attachNotation(a: {
  ref: string;
  opts: OciClientOptions;
  subject: { digest: string; mediaType: string; size: number };
  envelope: Buffer;
  layerType: string;
  chain: string[];
  legacy?: boolean;
  extraLayer?: boolean;
}): Promise<string> {
  const r = parseOciReference(a.ref);
  const c = new RegistryClient(r, a.opts);
  try {
    for (const b of [EMPTY, a.envelope]) await c.pushBlob(r.repository, { digest: sha256Digest(b), size: b.length }, () => b);
    const layer = { mediaType: a.layerType, digest: sha256Digest(a.envelope), size: a.envelope.length };
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(a.legacy ? {} : { artifactType: NOTATION }),
      config: a.legacy ? { mediaType: NOTATION, digest: sha256Digest(EMPTY), size: 2 } : { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY), size: 2 },
      layers: a.extraLayer ? [layer, layer] : [layer],
      subject: a.subject,
      annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(a.chain.map((p) => createHash('sha256').update(der(p)).digest('hex'))) },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const { digest } = await c.putManifest(r.repository, sha256Digest(bytes), bytes, OCI_MANIFEST);
    const tag = a.subject.digest.replace(':', '-');
    const existing = await c.getManifestIfExists(r.repository, tag);
    const manifests = [...(((existing?.json.manifests as unknown[]) ?? []) as Array<Record<string, unknown>>)];
    manifests.push({ mediaType: OCI_MANIFEST, digest, size: bytes.length, ...(a.legacy ? {} : { artifactType: NOTATION }) });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    await c.putManifest(r.repository, tag, index, 'application/vnd.oci.image.index.v1+json');
    return digest;
  } finally {
    await c.close();
  }
}
