import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import type { ModelRule, TrustPolicy } from './types.js';

/** How a reference is written for matching: local paths absolute, URLs as given. */
export function canonicalReference(ref: string): string {
  if (/^(oci|s3):\/\//.test(ref)) return ref;
  return path.resolve(ref);
}

/** `*` matches within one `/`-segment, `**` across segments; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The first rule whose pattern matches; a model no rule names is refused (fail closed). */
export function ruleFor(policy: TrustPolicy, reference: string): ModelRule {
  const ref = canonicalReference(reference);
  const rule = policy.models.find((r) => globToRegExp(r.match).test(ref));
  if (!rule) throw new ModelsealError('POLICY_VIOLATION', `no rule in policy ${policy.source} matches ${ref}`);
  return rule;
}
