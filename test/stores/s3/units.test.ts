import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addS3Flags, s3OptionsFromFlags } from '../../../src/cli/s3-options.js';
import { isRetryable, s3Error, TruncatedBody } from '../../../src/stores/s3/errors.js';
import { fullObjectSha256, objectLockOf } from '../../../src/stores/s3/objects.js';
import { isSbomName } from '../../../src/stores/s3/source.js';
import { parseS3ObjectUrl, parseS3Url } from '../../../src/stores/s3/url.js';

// Pure parsing and classification; everything touching a store is tested against Swift and moto.
describe('parseS3Url', () => {
  it('splits bucket and a /-terminated prefix', () => {
    expect(parseS3Url('s3://models-bucket/org/llama/v1')).toEqual({ bucket: 'models-bucket', prefix: 'org/llama/v1/' });
    expect(parseS3Url('s3://models-bucket/org/llama/v1/')).toEqual({ bucket: 'models-bucket', prefix: 'org/llama/v1/' });
    expect(parseS3Url('s3://models-bucket')).toEqual({ bucket: 'models-bucket', prefix: '' });
    expect(parseS3Url('s3://models-bucket/')).toEqual({ bucket: 'models-bucket', prefix: '' });
    expect(parseS3ObjectUrl('s3://b-1/sigs/model.sig')).toEqual({ bucket: 'b-1', key: 'sigs/model.sig' });
  });
  it.each([
    'http://bucket/x',
    's3://',
    's3://ab/x',
    's3://Upper/x',
    's3://under_score/x',
    's3://-lead/x',
    's3://a..b/x',
    's3://192.168.1.1/x',
    's3://bucket/../x',
    's3://bucket/a//b',
    's3://bucket/x?versionId=1',
  ])('rejects %s with REFERENCE_INVALID', (u) => {
    expect(() => parseS3Url(u)).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
  });
  it('requires an object key for a signature URL', () => {
    expect(() => parseS3ObjectUrl('s3://bucket')).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
    expect(() => parseS3ObjectUrl('s3://bucket/dir/')).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
  });
});

describe('S3 CLI flags', () => {
  it('adds the flags and converts them', () => {
    const cmd = addS3Flags(new Command('pull').exitOverride());
    cmd.parse(['--s3-endpoint', 'http://127.0.0.1:9000', '--s3-region', 'eu-west-1', '--s3-force-path-style', '--require-object-lock', '--s3-part-size', '64', '--s3-parallel-parts', '8'], { from: 'user' });
    expect(s3OptionsFromFlags(cmd.opts())).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      partSize: 64 * 1024 * 1024,
      parallelParts: 8,
    });
    expect(s3OptionsFromFlags({})).toEqual({});
  });
  it.each([
    [{ s3Endpoint: 'ftp://x' }],
    [{ s3Endpoint: 'not a url' }],
    [{ s3Endpoint: 'http://key:secret@host' }],
    [{ s3Region: 'EU WEST' }],
    [{ s3PartSize: '0' }],
    [{ s3PartSize: '1.5' }],
    [{ s3ParallelParts: '0' }],
    [{ s3ParallelParts: '65' }],
  ])('rejects %j with USAGE', (f) => {
    expect(() => s3OptionsFromFlags(f)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('store checksums and Object Lock', () => {
  const b64 = Buffer.alloc(32, 1).toString('base64');
  it('trusts only a full-object SHA-256', () => {
    expect(fullObjectSha256({ ChecksumSHA256: b64, ETag: '"abc"' })).toBe('01'.repeat(32));
    expect(fullObjectSha256({ ChecksumSHA256: b64, ChecksumType: 'FULL_OBJECT', ETag: '"abc-3"' })).toBe('01'.repeat(32));
    expect(fullObjectSha256({ ChecksumSHA256: `${b64}-3`, ETag: '"abc-3"' })).toBeUndefined();
    // moto's HEAD drops the suffix and the type of a composite value: the multipart ETag gives it away.
    expect(fullObjectSha256({ ChecksumSHA256: b64, ETag: '"abc-3"' })).toBeUndefined();
    expect(fullObjectSha256({ ChecksumSHA256: b64, ChecksumType: 'COMPOSITE', ETag: '"abc"' })).toBeUndefined();
    expect(fullObjectSha256({ ETag: '"abc"' })).toBeUndefined();
  });
  it('reads retention and legal hold', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    expect(objectLockOf({ ObjectLockLegalHoldStatus: 'ON' }, now)).toBe('legal-hold');
    expect(objectLockOf({ ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date('2031-01-01T00:00:00Z') }, now)).toBe(
      'COMPLIANCE until 2031-01-01T00:00:00.000Z',
    );
    expect(objectLockOf({ ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date('2029-01-01T00:00:00Z') }, now)).toBeUndefined();
    expect(objectLockOf({ ObjectLockLegalHoldStatus: 'OFF' }, now)).toBeUndefined();
  });
  it('recognises top-level SBOM names only', () => {
    expect(isSbomName('model.sbom.json')).toBe(true);
    expect(isSbomName('x.cdx.sbom.json')).toBe(true);
    expect(isSbomName('sub/model.sbom.json')).toBe(false);
    expect(isSbomName('sbom.json')).toBe(false);
  });
});

describe('S3 error mapping', () => {
  const sdk = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it.each([
    [sdk('SignatureDoesNotMatch', 403), 'AUTH_FAILED'],
    [sdk('InvalidAccessKeyId', 403), 'AUTH_FAILED'],
    [sdk('AccessDenied', 403), 'AUTH_FAILED'],
    [sdk('Unknown', 403), 'AUTH_FAILED'],
    [Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), 'AUTH_FAILED'],
    [sdk('NoSuchBucket', 404), 'NOT_FOUND'],
    [sdk('NotFound', 404), 'NOT_FOUND'],
    [sdk('PreconditionFailed', 412), 'SOURCE_UNAVAILABLE'],
    [sdk('SlowDown', 503), 'NETWORK'],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'NETWORK'],
    [new Error('Region is missing'), 'USAGE'],
  ])('%s → %s', (err, code) => {
    const e = s3Error(err, 's3://b/k');
    expect(e.code).toBe(code);
    expect(e.message).not.toMatch(/\n/);
  });
  it('retries only what can heal', () => {
    expect(isRetryable(new TruncatedBody('x'))).toBe(true);
    expect(isRetryable(sdk('SlowDown', 503))).toBe(true);
    expect(isRetryable(sdk('Whatever', 429))).toBe(true);
    expect(isRetryable(sdk('InternalError', 500))).toBe(true);
    expect(isRetryable(new Error('aborted'))).toBe(true);
    expect(isRetryable(sdk('AccessDenied', 403))).toBe(false);
    expect(isRetryable(sdk('PreconditionFailed', 412))).toBe(false);
    expect(isRetryable(sdk('NoSuchKey', 404))).toBe(false);
  });
});
