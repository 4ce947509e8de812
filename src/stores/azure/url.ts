import { ModelsealError } from '../../errors.js';

/** An Azure Blob location: storage account, container and a blob-name prefix (empty, or ending in `/`). */
export interface AzureLocation {
  account: string;
  container: string;
  prefix: string;
}

// Storage account: 3–24 lowercase letters and digits. Container: 3–63 of [a-z0-9-], starting and
// ending alphanumeric, no `--` (Azure naming rules), so a typo never reaches the network.
const ACCOUNT = /^[a-z0-9]{3,24}$/;
const CONTAINER = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;
const HTTPS = /^https:\/\/([a-z0-9]+)\.blob\.core\.windows\.net\/([^/?#]*)(?:\/([^?#]*))?$/;
const AZ = /^az:\/\/([^/?#]*)\/([^/?#]*)(?:\/([^?#]*))?$/;

export function isAzureReference(ref: string): boolean {
  return ref.startsWith('az://') || /^https:\/\/[a-z0-9]+\.blob\.core\.windows\.net\//.test(ref);
}

/**
 * `az://<account>/<container>[/<prefix>]` or `https://<account>.blob.core.windows.net/<container>[/<prefix>]`.
 * The prefix is normalised to end in `/`, so `…/m` never matches blobs of a sibling `…/m2/`.
 */
export function parseAzureUrl(url: string): AzureLocation {
  const m = AZ.exec(url) ?? HTTPS.exec(url);
  if (!m) throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(url)} is not az://account/container/prefix or https://account.blob.core.windows.net/container/prefix`);
  const [, account, container] = m as unknown as [string, string, string];
  if (!ACCOUNT.test(account)) throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(account)} is not a valid storage account name`);
  if (!CONTAINER.test(container)) throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(container)} is not a valid container name`);
  let prefix = (m[3] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((seg) => seg === '..' || seg === '.') || prefix.includes('//') || prefix.startsWith('/') || prefix.includes('\\')) {
    throw new ModelsealError('REFERENCE_INVALID', `${JSON.stringify(url)} has an unsafe blob prefix`);
  }
  if (prefix !== '') prefix += '/';
  return { account, container, prefix };
}

export function azUrl(loc: { account: string; container: string }, name: string): string {
  return `az://${loc.account}/${loc.container}/${name}`;
}
