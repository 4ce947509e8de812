import type { TokenCredential } from '@azure/identity';

/** How to reach Azure Blob Storage. Credentials default to the Azure SDK chain (see client.ts). */
export interface AzureOptions {
  /** Blob service URL override (Azurite: `http://127.0.0.1:10000/devstoreaccount1`); default `https://<account>.blob.core.windows.net`. */
  endpoint?: string;
  /** Connection string (else AZURE_STORAGE_CONNECTION_STRING). */
  connectionString?: string;
  /** SAS token, with or without a leading `?` (else AZURE_STORAGE_SAS_TOKEN). */
  sasToken?: string;
  /** Shared key (else AZURE_STORAGE_KEY). */
  accountKey?: string;
  /** Explicit Entra ID credential (tests, embedding); else DefaultAzureCredential (workload identity, managed identity, …). */
  credential?: TokenCredential;
  /** Refuse blobs under neither a locked, unexpired time-based retention policy nor a legal hold. */
  requireImmutability?: boolean;
  /** Environment to read credentials from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Block size for uploads (default 8 MiB). */
  uploadBlockSize?: number;
}

export const MiB = 1024 * 1024;
export const DEFAULT_UPLOAD_BLOCK = 8 * MiB;
