import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rootDigest } from '../../src/model/digest.js';
import { serializeDirectory } from '../../src/model/serialize.js';
import { signManifest } from '../../src/signatures/oms/sign.js';
import { verifyLocal } from '../helpers/verify.js';
import { makeModel } from '../helpers/model.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const authorities = [{ kind: 'key' as const, publicKeys: [publicKey] }];

/** Python's model_signing order: by path components, so `a/b` < `a-b` < `a.b` (trap T1). */
function pythonOrder<T extends { name: string }>(xs: T[]): T[] {
  const key = (n: string) => n.split('/');
  return [...xs].sort((x, y) => {
    const a = key(x.name);
    const b = key(y.name);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return a.length - b.length;
  });
}

describe('resource order (trap T1)', () => {
  it('a model whose names interleave verifies in spec order and, re-signed, in Python order', async () => {
    const dir = await makeModel({ 'a/b': '1', 'a-b': '2', 'a.b': '3', 'tokenizer.json': '4', 'tokenizer/vocab.txt': '5' });
    const m = await serializeDirectory(dir, { method: 'files', hashType: 'sha256', allowSymlinks: false, ignorePaths: ['model.sig'] });
    const swapped = pythonOrder(m.resources);
    expect(swapped.map((r) => r.name)).not.toEqual(m.resources.map((r) => r.name));
    expect(rootDigest(swapped)).not.toBe(rootDigest(m.resources));

    await writeFile(path.join(dir, 'model.sig'), await signManifest(m, { kind: 'key', privateKey }));
    const spec = await verifyLocal(dir, authorities);
    expect(spec.chosen.verified.rootDigest).toBe(rootDigest(m.resources));

    // The same files, resources swapped into Python order: the root follows the listed order.
    await writeFile(path.join(dir, 'model.sig'), await signManifest({ ...m, resources: swapped }, { kind: 'key', privateKey }));
    const py = await verifyLocal(dir, authorities);
    expect(py.chosen.verified.rootDigest).toBe(rootDigest(swapped));
    expect(py.report.checked).toBe(5);
  });
});
