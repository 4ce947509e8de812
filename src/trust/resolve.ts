import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import { loadCertificates, loadPublicKeys } from '../signatures/core/keys.js';
import type { Authority } from '../signatures/core/types.js';
import type { TsaChain } from '../signatures/oms/tsa-verify.js';
import { canonicalReference } from '../stores/reference.js';
import { loadTrustedRootFile } from './roots/load.js';
import { DEFAULT_REQUIREMENTS, METHODS, type Method, type TrustDecision, type TrustInput, type TrustOverrides, type TrustRequirements } from './types.js';

export { METHODS, type Method, type TrustDecision, type TrustInput, type TrustOverrides, type TrustRequirements };

/**
 * The one place that turns "who is trusted" — flags, init settings, or a policy file — into a
 * TrustDecision. The CLI and `init` both call it; nothing else builds authorities or reads rules.
 */

const METHOD_FLAGS: Record<Method, (keyof TrustInput)[]> = {
  key: ['publicKey'],
  certificate: ['certChain'],
  sigstore: ['identity', 'identityRegexp', 'identityProvider', 'trustRoot'],
};

const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const given = (input: TrustInput, k: keyof TrustInput) => {
  const v = input[k];
  return Array.isArray(v) ? v.length > 0 : v !== undefined;
};

/** The methods the input names (a pull may trust several kinds of signer at once). */
export function methodsIn(input: TrustInput): Method[] {
  return METHODS.filter((m) => METHOD_FLAGS[m].some((k) => k !== 'trustRoot' && given(input, k)));
}

async function readTrustFile(file: string, what: string): Promise<string> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError('KEY_INVALID', `cannot read ${what} ${file}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
  });
}

/** `--tsa-cert-chain`: TSAs whose timestamps key and certificate bundles may carry (loaded only when given). */
async function timestampAuthoritiesFrom(files: string[] | undefined): Promise<{ timestampAuthorities?: TsaChain[] }> {
  if (!files?.length) return {};
  const { loadTsaChainFiles } = await import('../signatures/oms/tsa-verify.js');
  return { timestampAuthorities: await loadTsaChainFiles(files) };
}

/** Authorities for one method from its input. */
export async function authoritiesForMethod(method: Method, f: TrustInput): Promise<Authority[]> {
  switch (method) {
    case 'key': {
      if (!f.publicKey) throw new ModelsealError('USAGE', 'the key method needs --public-key');
      const pem = await readTrustFile(f.publicKey, 'public key');
      return [{ kind: 'key', name: path.basename(f.publicKey), publicKeys: loadPublicKeys(pem, f.publicKey), ...(await timestampAuthoritiesFrom(f.tsaCertChain)) }];
    }
    case 'certificate': {
      if (!f.certChain?.length) throw new ModelsealError('USAGE', 'the certificate method needs --cert-chain with the trust anchor(s); there is no silent fallback to system roots');
      const anchors = [];
      for (const file of f.certChain) anchors.push(...loadCertificates(await readTrustFile(file, 'certificate'), file));
      return [{ kind: 'certificate', name: 'cert-chain', anchors, ...(await timestampAuthoritiesFrom(f.tsaCertChain)) }];
    }
    case 'sigstore': {
      if ((f.identity === undefined) === (f.identityRegexp === undefined)) {
        throw new ModelsealError('USAGE', 'keyless verification needs exactly one of --identity, --identity-regexp');
      }
      if (!f.identityProvider) throw new ModelsealError('USAGE', 'keyless verification needs --identity-provider (the OIDC issuer)');
      if (f.identityRegexp !== undefined) {
        try {
          new RegExp(`^(?:${f.identityRegexp})$`);
        } catch (err) {
          throw new ModelsealError('USAGE', `--identity-regexp is not a valid regular expression: ${(err as Error).message}`);
        }
      }
      return [
        {
          kind: 'sigstore',
          name: 'keyless',
          trustedRoot: await loadTrustedRootFile(f.trustRoot),
          identity: f.identity !== undefined ? { exact: f.identity } : { regexp: f.identityRegexp! },
          issuer: f.identityProvider,
        },
      ];
    }
  }
}


/**
 * Resolve trust for one model reference. With a policy file the first matching rule decides (and
 * no method flag may be mixed in); otherwise the flags do: exactly `method`'s flags when a command
 * names one (`verify key`), any combination when it does not (`pull`, `init`, `audit`).
 */
export async function resolveTrust(reference: string, input: TrustInput, opts: { method?: Method; overrides?: TrustOverrides } = {}): Promise<TrustDecision> {
  const canonical = canonicalReference(reference);
  const o = opts.overrides ?? {};
  const apply = (base: TrustRequirements): TrustRequirements => ({
    ...base,
    requireSbom: base.requireSbom || !!o.requireSbom,
    blockUnsafePickle: o.allowUnsafePickle ? false : base.blockUnsafePickle,
    ignoreUnsignedFiles: base.ignoreUnsignedFiles || !!o.ignoreUnsignedFiles,
    requireObjectLock: base.requireObjectLock || !!o.requireObjectLock,
    requireImmutability: base.requireImmutability || !!o.requireImmutability,
  });
  if (input.policy) {
    const mixed = METHODS.flatMap((m) => METHOD_FLAGS[m]).filter((k) => given(input, k));
    if (input.tsaCertChain?.length) mixed.push('tsaCertChain');
    if (mixed.length > 0) throw new ModelsealError('USAGE', `--policy decides the signers; do not combine it with ${mixed.map(flagName).join(', ')}`);
    // The policy stack (YAML parser, validators) loads only when a policy is given.
    const [{ loadPolicy }, { ruleFor }, { authoritiesFor }] = await Promise.all([
      import('./policy/load.js'),
      import('./policy/match.js'),
      import('./policy/authorities.js'),
    ]);
    const policy = await loadPolicy(input.policy);
    const rule = ruleFor(policy, reference);
    const { match, authorities: _names, ...requirements } = rule;
    return {
      reference: canonical,
      authorities: await authoritiesFor(policy, rule),
      requirements: apply(requirements),
      policy: { path: policy.source, sha256: policy.sha256, rule: match },
    };
  }
  let methods: Method[];
  if (opts.method) {
    const foreign = METHODS.filter((m) => m !== opts.method).flatMap((m) => METHOD_FLAGS[m]).filter((k) => given(input, k));
    if (foreign.length > 0) {
      const owner = (k: keyof TrustInput) => METHODS.find((m) => METHOD_FLAGS[m].includes(k))!;
      throw new ModelsealError('USAGE', `${foreign.map(flagName).join(', ')} belongs to the ${owner(foreign[0]!)} method, not ${opts.method}`);
    }
    methods = [opts.method];
  } else {
    methods = methodsIn(input);
    if (methods.length === 0) throw new ModelsealError('USAGE', 'say who is trusted: --public-key, --cert-chain, --identity/--identity-regexp, or --policy');
  }
  const authorities: Authority[] = [];
  for (const m of methods) authorities.push(...(await authoritiesForMethod(m, input)));
  return { reference: canonical, authorities, requirements: apply(DEFAULT_REQUIREMENTS) };
}
