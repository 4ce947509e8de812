import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import type { AuthoritySpec, TrustPolicy } from './types.js';
import { PolicyValidator, validateAuthority, validateRule } from './validate.js';

const MAX_POLICY_BYTES = 1024 * 1024;

/** Load and strictly validate a trust policy (YAML or JSON; JSON is YAML). */
export async function loadPolicy(file: string): Promise<TrustPolicy> {
  const abs = path.resolve(file);
  const st = await stat(abs).catch(() => {
    throw new ModelsealError('POLICY_INVALID', `policy ${file} does not exist`);
  });
  if (st.size > MAX_POLICY_BYTES) throw new ModelsealError('POLICY_INVALID', `policy ${file} is larger than ${MAX_POLICY_BYTES} bytes`);
  const bytes = await readFile(abs);
  return parsePolicy(abs, bytes);
}

export function parsePolicy(file: string, bytes: Buffer): TrustPolicy {
  const val = new PolicyValidator(file, bytes.toString('utf8'));
  const root = val.object(val.root(), [], ['apiVersion', 'authorities', 'models'], ['apiVersion', 'authorities', 'models']);
  if (root.apiVersion !== 'modelseal/v1') val.fail(['apiVersion'], 'must be "modelseal/v1"');
  const authObj = val.object(root.authorities, ['authorities'], Object.keys((root.authorities as object) ?? {}));
  const authorities: Record<string, AuthoritySpec> = {};
  for (const [name, spec] of Object.entries(authObj)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) val.fail(['authorities', name], 'authority names are letters, digits, . _ - (max 63)');
    authorities[name] = validateAuthority(val, spec, ['authorities', name]);
  }
  if (!Array.isArray(root.models) || root.models.length === 0) val.fail(['models'], 'must be a non-empty list of rules');
  const known = new Set(Object.keys(authorities));
  const models = (root.models as unknown[]).map((r, i) => validateRule(val, r, ['models', i], known));
  return {
    apiVersion: 'modelseal/v1',
    authorities,
    models,
    source: file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
