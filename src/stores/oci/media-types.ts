/** Media types we read and write (oci-and-s3.md §1, signing-formats.md §2, §4). */
export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  empty: 'application/vnd.oci.empty.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  modelManifest: 'application/vnd.cncf.model.manifest.v1+json',
  modelConfig: 'application/vnd.cncf.model.config.v1+json',
  cnaiModelManifest: 'application/vnd.cnai.model.manifest.v1+json',
  cnaiModelConfig: 'application/vnd.cnai.model.config.v1+json',
  kitConfig: 'application/vnd.kitops.modelkit.config.v1+json',
  jozuConfig: 'application/vnd.jozu.model.config.v1+json',
  sigstoreBundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  cosignLegacySig: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  notation: 'application/vnd.cncf.notary.signature',
  cyclonedx: 'application/vnd.cyclonedx+json',
  spdx: 'application/spdx+json',
} as const;

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

/** sha256 of `{}`: the OCI empty descriptor (image-spec "Guidance for an empty descriptor"). */
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export const PREDICATE = {
  omsV1: 'https://model_signing/signature/v1.0',
  omsV02: 'https://model_signing/Digests/v0.1',
  cosignSign: 'https://sigstore.dev/cosign/sign/v1',
  cyclonedx: 'https://cyclonedx.org/bom',
  spdx: 'https://spdx.dev/Document',
} as const;

export const ANNOTATION = {
  cncfFilepath: 'org.cncf.model.filepath',
  cnaiFilepath: 'org.cnai.model.filepath',
  cncfFileMetadata: 'org.cncf.model.file.metadata+json',
  cnaiFileMetadata: 'org.cnai.model.file.metadata+json',
  cncfUntested: 'org.cncf.model.file.mediatype.untested',
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  orasContentDigest: 'io.deis.oras.content.digest',
  orasUnpack: 'io.deis.oras.content.unpack',
  bundleContent: 'dev.sigstore.bundle.content',
  bundlePredicate: 'dev.sigstore.bundle.predicateType',
  cosignSignature: 'dev.cosignproject.cosign/signature',
} as const;

export type Packing = 'raw' | 'tar' | 'tar+gzip' | 'tar+zstd';

/** How a layer's bytes are packed, judged from its media type suffix. */
export function layerPacking(mediaType: string): Packing {
  if (/\.tar\+gzip$|\.tar\.gzip$|\+gzip$|\.gzip$/.test(mediaType)) return 'tar+gzip';
  if (/\.tar\+zstd$|\+zstd$|\.zstd$/.test(mediaType)) return 'tar+zstd';
  if (/\.tar$/.test(mediaType)) return 'tar';
  return 'raw';
}

export function isModelPackConfig(mt: string): boolean {
  return mt === MT.modelConfig || mt === MT.cnaiModelConfig;
}
export function isKitConfig(mt: string): boolean {
  return mt === MT.kitConfig || mt === MT.jozuConfig;
}
