import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import type { AzureLocation } from './url.js';
import type { AzureOptions } from './options.js';

/**
 * A container client from the first credential that is configured: connection string, SAS,
 * shared key, an explicit credential, else `DefaultAzureCredential` (environment service
 * principal, AKS workload identity via AZURE_FEDERATED_TOKEN_FILE, managed identity, Azure CLI),
 * loaded only then: @azure/identity is large and most pulls never need it.
 */
export async function containerClient(loc: AzureLocation, opts: AzureOptions): Promise<ContainerClient> {
  const env = opts.env ?? process.env;
  const endpoint = (opts.endpoint ?? `https://${loc.account}.blob.core.windows.net`).replace(/\/+$/, '');
  const connectionString = opts.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
  const sas = opts.sasToken ?? env.AZURE_STORAGE_SAS_TOKEN;
  const key = opts.accountKey ?? env.AZURE_STORAGE_KEY;
  // The SDK retries 5xx, throttling and dropped connections itself; a pinned ranged GET resumes.
  const pipeline = { retryOptions: { maxTries: 5, retryDelayInMs: 200, maxRetryDelayInMs: 5000 } };
  let service: BlobServiceClient;
  if (connectionString) service = BlobServiceClient.fromConnectionString(connectionString, pipeline);
  else if (sas) service = new BlobServiceClient(`${endpoint}?${sas.replace(/^\?/, '')}`, undefined, pipeline);
  else if (key) service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(loc.account, key), pipeline);
  else if (opts.credential) service = new BlobServiceClient(endpoint, opts.credential, pipeline);
  else {
    const { DefaultAzureCredential } = await import('@azure/identity');
    service = new BlobServiceClient(endpoint, new DefaultAzureCredential(), pipeline);
  }
  return service.getContainerClient(loc.container);
}
