export { parseS3Url, parseS3ObjectUrl, s3Url } from './url.js';
export { createS3Source, isSbomName, SIGNATURE_NAME, SBOM_NAME, SBOM_SIGNATURE_NAME } from './source.js';
export { publishS3, type PublishS3Options } from './publish.js';
export type { S3Options } from './options.js';
