import { ModelsealError } from '../../errors.js';

/**
 * `oci://host[:port]/repo[:tag][@sha256:…]`, validated with the distribution-spec grammar so a
 * reference can never smuggle path segments (`..`, `?`, `#`) into the URLs we build from it.
 */
export interface OciReference {
  /** Registry as written (`127.0.0.1:5000`, `docker.io`): the key for credentials. */
  registry: string;
  /** Host the API lives on (`registry-1.docker.io` for `docker.io`). */
  apiHost: string;
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` when pinned. */
  digest?: string;
}

// distribution-spec v1.1.1 §"Pulling manifests": <name> and <reference> grammars.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
// A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** Repository paths longer than this are refused by registries anyway (distribution limit 255). */
const MAX_NAME = 255;

function invalid(ref: string, why: string): never {
  throw new ModelsealError('REFERENCE_INVALID', `invalid OCI reference "${ref}": ${why}`, { details: { reference: ref } });
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function isTag(s: string): boolean {
  return TAG_RE.test(s);
}

export function parseOciReference(ref: string): OciReference {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 1024) invalid(String(ref), 'empty or too long');
  let rest = ref.startsWith('oci://') ? ref.slice('oci://'.length) : ref;
  if (/[\s?#\\]/.test(rest)) invalid(ref, 'contains whitespace, "?", "#" or "\\"');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) invalid(ref, 'digest must be sha256:<64 lowercase hex>');
  }

  const slash = rest.indexOf('/');
  let registry: string;
  let path: string;
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  // Docker's rule: the first component is a registry host only if it looks like one.
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    path = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    path = rest;
  }
  if (!HOST_RE.test(registry)) invalid(ref, `bad registry host "${registry}"`);
  const portMatch = /:([0-9]+)$/.exec(registry.replace(/^\[.*\]/, ''));
  if (portMatch && (Number(portMatch[1]) < 1 || Number(portMatch[1]) > 65535)) invalid(ref, 'port out of range');

  let tag: string | undefined;
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) invalid(ref, `bad tag "${tag}"`);
  }
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (path.length === 0 || path.length > MAX_NAME || !NAME_RE.test(path)) invalid(ref, `bad repository name "${path}"`);
  if (!tag && !digest) tag = 'latest';

  return {
    registry,
    apiHost: registry === 'docker.io' ? 'registry-1.docker.io' : registry,
    repository: path,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
  };
}

export function formatOciReference(r: OciReference): string {
  return `oci://${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The cosign/OCI fallback tag for a digest: `sha256-<hex>` (distribution-spec "referrers tag schema"). */
export function fallbackTag(digest: string, suffix = ''): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}${suffix}`.replace(/[^a-zA-Z0-9._-]/g, '-');
}
