/**
 * Registry mirrors (pull-through caches, P2P distributors) as modelseal uses them: untrusted
 * byte sources. Every blob a mirror serves is verified against the signed digests, so a
 * mirror can make a pull slower, never make it accept other bytes.
 */

/** Where mirrors are configured; every form is optional and they combine in this order. */
export interface MirrorSettings {
  /** `--mirror <host>=<url>` in the order given: tried first. */
  flags?: Array<{ registry: string; url: string }>;
  /** containerd `config_path` (`/etc/containerd/certs.d`; a ':'-separated list as containerd allows). */
  hostsDir?: string;
  /** containers `registries.conf` (v2); drop-ins from `<its dir>/registries.conf.d/*.conf`. */
  registriesConf?: string;
  /** Fetch signatures through the mirrors too (default: from the origin only). */
  signatures?: boolean;
  /** A mirror that sends nothing for this long is skipped for that blob (default 15 s). */
  stallMs?: number;
}

export type MirrorCapability = 'pull' | 'resolve';

/** One mirror endpoint for one reference: where its API lives and which repository to ask for. */
export interface MirrorHost {
  /** API root (no trailing slash): `<url>/v2`, or the URL path itself with `override_path`. */
  apiRoot: string;
  /** `host[:port]` of the mirror: the key its own credentials are looked up under (never the origin's). */
  registry: string;
  /** Repository name on the mirror (registries.conf can move it under another path). */
  repository: string;
  capabilities: Set<MirrorCapability>;
  /** containerd sends `?ns=<upstream host>` to a mirror that is not the reference's host. */
  ns?: string;
  caFiles?: string[];
  headers?: Record<string, string>;
  dialTimeoutMs?: number;
  /** Which configuration named it (`--mirror`, `hosts.toml <file>`, `registries.conf <file>`). */
  from: string;
}

/** Which endpoint delivered a blob, and which mirrors were skipped for it and why (for the receipt). */
export interface BlobDelivery {
  /** The API root that delivered the blob, or `origin`. */
  from: string;
  skipped: Array<{ mirror: string; reason: string }>;
}

export interface DeliveryReport {
  /** Per delivered model file: where its bytes came from. */
  files: Record<string, { blob: string; from: string }>;
  /** Every time a mirror was skipped for a blob. */
  skipped: Array<{ blob: string; mirror: string; reason: string }>;
}
