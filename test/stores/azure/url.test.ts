import { describe, expect, it } from 'vitest';
import { referenceKind } from '../../../src/stores/registry.js';
import { parseAzureUrl } from '../../../src/stores/azure/url.js';

describe('Azure Blob references', () => {
  it('parses az:// and https://<account>.blob.core.windows.net with a /-terminated prefix', () => {
    expect(parseAzureUrl('az://acme/models/llama/v1')).toEqual({ account: 'acme', container: 'models', prefix: 'llama/v1/' });
    expect(parseAzureUrl('https://acme.blob.core.windows.net/models/llama/v1/')).toEqual({ account: 'acme', container: 'models', prefix: 'llama/v1/' });
    expect(parseAzureUrl('az://acme/models')).toEqual({ account: 'acme', container: 'models', prefix: '' });
    expect(referenceKind('az://acme/models/x')).toBe('azure');
    expect(referenceKind('https://acme.blob.core.windows.net/models/x')).toBe('azure');
  });

  it.each([
    'az://Acme/models/x', 'az://a/models/x', 'az://acme/Models/x', 'az://acme/mo--dels/x', 'az://acme/models/../x', 'az://acme/models/a//b',
    'az://acme/models/a\\b', 'https://acme.blob.core.windows.net.evil/models/x', 'http://acme.blob.core.windows.net/models/x', 'az://acme/models/x?sv=1',
  ])('refuses %s', (u) => {
    expect(() => parseAzureUrl(u)).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
  });
});
