export { parseOciReference, formatOciReference, fallbackTag, type OciReference } from './reference.js';
export { RegistryClient, type OciClientOptions, type Descriptor, type FetchedManifest } from './client.js';
export { createOciSource, type OciSource } from './source.js';
export { lookupCredentials, type RegistryCredential } from './credentials.js';
