import { ModelsealError } from '../../errors.js';

/** A Notation trust store vouches for Notation envelopes only, never for another format's signer. */
export function onlyNotationSignatures(format: string): never {
  throw new ModelsealError('UNTRUSTED_SIGNER', `a Notation authority does not accept ${format} signatures`);
}
