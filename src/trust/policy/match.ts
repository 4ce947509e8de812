import { ModelsealError } from '../../errors.js';
import { canonicalPattern, canonicalReference } from '../../stores/reference.js';
import type { ModelRule, TrustPolicy } from './types.js';

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

/**
 * The first rule whose pattern matches the canonical reference; a model no rule names is refused
 * (fail closed). Both sides are canonical, so equivalent spellings always hit the same rule.
 */
export function ruleFor(policy: TrustPolicy, reference: string): ModelRule {
  const ref = canonicalReference(reference);
  // An S3 prefix is a directory: `s3://b/m/` is also spelled `s3://b/m` (so `s3://b/*` names it).
  const spellings = ref.startsWith('s3://') && ref.endsWith('/') ? [ref, ref.slice(0, -1)] : [ref];
  const rule = policy.models.find((r) => {
    const re = globToRegExp(canonicalPattern(r.match));
    return spellings.some((s) => re.test(s));
  });
  if (!rule) throw new ModelsealError('POLICY_VIOLATION', `no rule in policy ${policy.source} matches ${ref}`);
  return rule;
}
