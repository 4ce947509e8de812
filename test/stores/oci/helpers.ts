import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OciClientOptions } from '../../../src/stores/oci/client.js';
import type { IncomingFile, ModelSource, SourceEntry } from '../../../src/stores/types.js';
import type { RegistryServer } from '../../harness/registry.js';
import { tempDir } from '../../harness/process.js';

/** Client options for a harness registry: creds through a docker config file, CA for TLS. */
export async function clientFor(reg: RegistryServer, extra: OciClientOptions = {}): Promise<OciClientOptions> {
  const o: OciClientOptions = { plainHttp: !reg.tls, retryBaseMs: 20, env: {}, homeDir: await tempDir('home'), mountedSecretDir: '/nonexistent', ...extra };
  if (reg.auth !== 'none' && !o.credentials && !o.authFile) {
    const f = path.join(await tempDir('auth'), 'config.json');
    await writeFile(f, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${reg.password}`).toString('base64') } } }));
    o.authFile = f;
  }
  if (reg.caFile) o.caFile = reg.caFile;
  return o;
}

export const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** A sink that buffers each delivered file and hashes it (tests only: small models). */
export function collectingSink(): { files: Map<string, Buffer>; sink: (f: IncomingFile) => Promise<void> } {
  const files = new Map<string, Buffer>();
  return {
    files,
    sink: async (f) => {
      const chunks: Buffer[] = [];
      for await (const c of f.stream) chunks.push(c as Buffer);
      if (files.has(f.path)) throw new Error(`delivered twice: ${f.path}`);
      files.set(f.path, Buffer.concat(chunks));
    },
  };
}

export async function fetchAll(src: ModelSource, entries?: SourceEntry[]): Promise<Map<string, Buffer>> {
  const { files, sink } = collectingSink();
  await src.fetch(entries ?? (await src.list()), sink, { concurrency: 3 });
  return files;
}

/** A syntactically plausible OMS bundle (not a valid signature): enough for discovery tests. */
export function fakeOmsBundle(marker = 'x'): string {
  const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: marker, digest: { sha256: '0'.repeat(64) } }], predicateType: 'https://model_signing/signature/v1.0', predicate: {} };
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: marker }, tlogEntries: [] },
    dsseEnvelope: { payload: Buffer.from(JSON.stringify(statement)).toString('base64'), payloadType: 'application/vnd.in-toto+json', signatures: [{ sig: 'AA==', keyid: '' }] },
  });
}

export async function fileList(dir: string, rels: string[]): Promise<Array<{ path: string; size: number; sha256: string }>> {
  return Promise.all(rels.map(async (p) => {
    const b = await readFile(path.join(dir, p));
    return { path: p, size: b.length, sha256: sha256(b) };
  }));
}

import tarStream from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { RegistryClient, sha256Digest } from '../../../src/stores/oci/client.js';
import { parseOciReference } from '../../../src/stores/oci/reference.js';

export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  content?: Buffer | string;
  linkname?: string;
}

export async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const header = { name: e.name, type: e.type ?? 'file', mode: 0o644, mtime: new Date(0), ...(e.linkname ? { linkname: e.linkname } : {}), ...(content ? { size: content.length } : {}) } as const;
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);

export interface LayerSpec {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

/** Pushes an artefact with our own client (no skopeo), for hostile fixtures. */
export async function pushArtifact(
  ref: string, opts: import('../../../src/stores/oci/client.js').OciClientOptions,
  o: { artifactType?: string; config: { mediaType: string; bytes: Buffer }; layers: LayerSpec[]; omitMediaType?: boolean },
): Promise<{ digest: string; bytes: Buffer }> {
  const r = parseOciReference(ref);
  const c = new RegistryClient(r, opts);
  try {
    const blobs = [o.config.bytes, ...o.layers.map((l) => l.bytes)];
    for (const b of blobs) await c.pushBlob(r.repository, { digest: sha256Digest(b), size: b.length }, () => b);
    const manifest = {
      schemaVersion: 2,
      ...(o.omitMediaType ? {} : { mediaType: 'application/vnd.oci.image.manifest.v1+json' }),
      ...(o.artifactType ? { artifactType: o.artifactType } : {}),
      config: { mediaType: o.config.mediaType, digest: sha256Digest(o.config.bytes), size: o.config.bytes.length },
      layers: o.layers.map((l) => ({ mediaType: l.mediaType, digest: sha256Digest(l.bytes), size: l.bytes.length, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const { digest } = await c.putManifest(r.repository, r.tag!, bytes, 'application/vnd.oci.image.manifest.v1+json');
    return { digest, bytes };
  } finally {
    await c.close();
  }
}

/** A ModelPack config with the given diffIds. */
export function modelPackConfig(diffIds: string[], legacy = false): Buffer {
  return Buffer.from(JSON.stringify({ descriptor: { name: 'm' }, config: {}, modelfs: legacy ? { type: 'layers', diff_ids: diffIds } : { type: 'layers', diffIds } }));
}
