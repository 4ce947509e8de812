import type { Finding } from './finding.js';
import { judgeGlobal } from './pickle-globals.js';
import type { ByteReader } from './reader.js';
import { isPlainObject, parseStrictJson } from './strict-json.js';
import { readZipDirectory, readZipEntry } from './zip.js';

/**
 * Keras v3 `.keras` archives: a zip holding `config.json` (the model as nested
 * `{module, class_name, config, registered_name}` objects), `metadata.json` and the weights.
 * Loading rebuilds every object by importing `module` and looking up `class_name`; a `Lambda`
 * layer carries marshalled Python bytecode (CVE-2024-3660; safe_mode bypasses CVE-2025-1550,
 * CVE-2025-9906). Decided by content: a zip with `config.json` and `metadata.json`.
 */

const MAX_CONFIG = 64 << 20;

/** Modules whose classes and functions Keras itself ships. */
const KERAS_MODULE = /^(keras|tf_keras|tensorflow\.keras)(\.|$)/;

export async function analyzeKerasArchive(path: string, r: ByteReader, named: boolean): Promise<Finding[] | undefined> {
  const entries = await readZipDirectory(r);
  const config = entries.find((e) => e.name === 'config.json');
  if (!config) return named ? [{ path, severity: 'inconclusive', kind: 'keras', detail: 'named .keras but has no config.json: cannot be checked' }] : undefined;
  if (!named && !entries.some((e) => e.name === 'metadata.json')) return undefined;
  const doc = parseStrictJson(Buffer.from(await readZipEntry(r, config, MAX_CONFIG)).toString('utf8'), 'keras config.json', 256);
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const add = (severity: Finding['severity'], detail: string): void => {
    if (seen.has(detail) || findings.length >= 50) return;
    seen.add(detail);
    findings.push({ path, severity, kind: 'keras', detail });
  };
  const walk = (v: unknown, where: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${where}[${i}]`));
    if (!isPlainObject(v)) return;
    const cls = typeof v.class_name === 'string' ? v.class_name : undefined;
    const mod = typeof v.module === 'string' ? v.module : undefined;
    const registered = typeof v.registered_name === 'string' ? v.registered_name : undefined;
    const name = typeof v.name === 'string' ? v.name : isPlainObject(v.config) && typeof v.config.name === 'string' ? v.config.name : where;
    if (cls === 'Lambda' || cls === '__lambda__') add('unsafe', `Lambda layer "${name}" carries Python bytecode that runs when the model is loaded (CVE-2024-3660)`);
    else if (cls === 'function' && mod !== undefined && !KERAS_MODULE.test(mod)) {
      add(judgeGlobal(mod, String(v.config)).verdict === 'unsafe' ? 'unsafe' : 'inconclusive', `config calls the function ${mod}.${String(v.config)} when loaded (CVE-2025-1550)`);
    } else if (mod !== undefined && cls !== undefined && !KERAS_MODULE.test(mod)) {
      const j = judgeGlobal(mod, cls);
      add(j.verdict === 'unsafe' ? 'unsafe' : 'inconclusive', `object "${name}" is ${mod}.${cls}, imported from outside Keras when loaded${j.reason ? `: ${j.reason}` : ''}`);
    } else if (registered !== undefined && cls !== undefined && registered !== cls && !KERAS_MODULE.test(registered)) {
      add('inconclusive', `custom object "${registered}" needs code registered outside Keras to load`);
    }
    for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
  };
  walk(doc, 'config');
  return findings;
}
