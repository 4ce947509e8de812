import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { parseOciReference } from './oci/reference.js';
import { parseS3Url } from './s3/url.js';
import { isAzureReference, parseAzureUrl } from './azure/url.js';

/**
 * One spelling per model location, so a trust-policy rule cannot be escaped by writing the same
 * place differently (`LOCALHOST` vs `localhost`, `:443` vs no port, `index.docker.io` vs
 * `docker.io`, `s3://b/prod` vs `s3://b/prod/`, `./m` vs `/abs/m`). Spellings that are ambiguous
 * rather than equivalent (percent-escapes, empty segments) are refused instead of guessed.
 */

/** Registries that are Docker Hub under another name (docker/distribution reference normalisation). */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
const DEFAULT_PORT = '443';

function refuse(ref: string, why: string): never {
  throw new ModelsealError('REFERENCE_INVALID', `ambiguous model reference ${JSON.stringify(ref)}: ${why}`);
}

/** `host[:port]` lower-cased, Docker Hub aliases folded, the default port made explicit. */
function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(lower);
  if (!m) return lower;
  const name = DOCKER_HUB.has(m[1]!) ? 'docker.io' : m[1]!;
  const port = m[2] === undefined ? DEFAULT_PORT : String(Number(m[2]));
  return `${name}:${port}`;
}

function assertUnambiguous(ref: string): void {
  if (ref.includes('%')) refuse(ref, 'percent-escapes are not accepted in references');
  if (/[\u0000-\u001f\u007f]/.test(ref)) refuse(ref, 'control characters');
}

export type ReferenceKind = 'oci' | 's3' | 'azure' | 'dir';

export function referenceKind(reference: string): ReferenceKind {
  if (reference.startsWith('oci://')) return 'oci';
  if (reference.startsWith('s3://')) return 's3';
  if (isAzureReference(reference)) return 'azure';
  return 'dir';
}

/** The canonical form a policy rule is matched against. */
export function canonicalReference(ref: string): string {
  assertUnambiguous(ref);
  switch (referenceKind(ref)) {
    case 'oci': {
      const rest = ref.slice('oci://'.length);
      const slash = rest.indexOf('/');
      const host = slash < 0 ? rest : rest.slice(0, slash);
      // Fold Docker Hub aliases first, so `library/` is added as it is for `docker.io`.
      const r = parseOciReference(slash >= 0 && DOCKER_HUB.has(host.toLowerCase()) ? `oci://docker.io${rest.slice(slash)}` : ref);
      return `oci://${canonicalHost(r.registry)}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
    }
    case 's3': {
      const { bucket, prefix } = parseS3Url(ref);
      return `s3://${bucket}/${prefix}`;
    }
    case 'azure': {
      // Both spellings of one location match the same rule: az://account/container/prefix/.
      const { account, container, prefix } = parseAzureUrl(ref);
      return `az://${account}/${container}/${prefix}`;
    }
    case 'dir': {
      if (ref === '') refuse(ref, 'empty path');
      const abs = path.resolve(ref);
      try {
        return realpathSync.native(abs);
      } catch {
        return abs;
      }
    }
  }
}

/**
 * A rule's `match` glob in the same canonical spelling: the literal host of an `oci://` pattern
 * is lower-cased, aliased and given its default port; a literal `s3://` pattern names a prefix.
 * Glob characters in the host are left alone (a host glob spells out what it means).
 */
export function canonicalPattern(glob: string): string {
  if (glob.startsWith('oci://')) {
    const rest = glob.slice('oci://'.length);
    const slash = rest.indexOf('/');
    const host = slash < 0 ? rest : rest.slice(0, slash);
    if (/[*?]/.test(host)) return glob;
    let tail = slash < 0 ? '' : rest.slice(slash);
    const canonHost = canonicalHost(host);
    // Docker Hub official images live under library/ (`docker.io/ubuntu` is `docker.io/library/ubuntu`).
    if (canonHost === `docker.io:${DEFAULT_PORT}` && /^\/[^/*?]+$/.test(tail.replace(/[:@].*$/, ''))) tail = `/library${tail}`;
    return `oci://${canonHost}${tail}`;
  }
  if (glob.startsWith('s3://') && !/[*?]/.test(glob) && !glob.endsWith('/')) return `${glob}/`;
  return glob;
}
