import { ModelsealError, oneLine } from '../../errors.js';

interface RestErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

/**
 * One ModelsealError with a one-line reason from an Azure SDK, credential or stream error.
 * `what` names the blob or container (`az://account/container/name`), never a key or SAS.
 */
export function azureError(err: unknown, what: string): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as RestErrorShape;
  const s = e.statusCode;
  const tag = [e.code, s !== undefined ? `HTTP ${s}` : undefined].filter(Boolean).join(', ') || e.name || 'Error';
  if (e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationError' || e.name === 'AggregateAuthenticationError') {
    return new ModelsealError('AUTH_FAILED', `no usable Azure credential for ${what}: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_KEY, or run with a workload or managed identity (${oneLine(err).slice(0, 200)})`, { cause: err });
  }
  if (s === 401 || s === 403) return new ModelsealError('AUTH_FAILED', `Azure refused access to ${what} (${tag})`, { cause: err });
  if (e.code === 'ContainerNotFound') return new ModelsealError('NOT_FOUND', `container of ${what} does not exist`, { cause: err });
  if (s === 404) return new ModelsealError('NOT_FOUND', `${what} does not exist (${tag})`, { cause: err });
  if (s === 412) return new ModelsealError('SOURCE_UNAVAILABLE', `${what} changed after it was listed (ETag pin failed, HTTP 412)`, { cause: err });
  if (e.name === 'AbortError') return new ModelsealError('NETWORK', `request for ${what} was aborted`, { cause: err });
  if (s === undefined || s >= 500 || s === 429) return new ModelsealError('NETWORK', `Azure request for ${what} failed (${tag}): ${oneLine(err)}`, { cause: err });
  return new ModelsealError('SOURCE_UNAVAILABLE', `Azure request for ${what} failed (${tag}): ${oneLine(err)}`, { cause: err });
}
