import { generateKeyPairSync } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { makeModel } from '../helpers/model.js';

// Protocol 2: GLOBAL posix.system, the argument "id", TUPLE1, REDUCE — runs `id` when unpickled.
const EVIL = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.', 'latin1')]);

describe('pull refuses a signed model that can run code when loaded', () => {
  let key: string;
  let pub: string;
  beforeAll(async () => {
    const dir = await tempDir('unsafe-keys');
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    key = path.join(dir, 'k.pem');
    pub = path.join(dir, 'k.pub');
    await writeFile(key, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(pub, k.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('exits 8 naming posix.system, places nothing; --allow-unsafe-pickle lets it through', async () => {
    const dir = await makeModel({ 'config.json': '{}', 'model.pkl': EVIL });
    expect((await runCli(['sign', 'key', dir, '--private-key', key])).code).toBe(0);
    const parent = await tempDir('unsafe-into');
    const into = path.join(parent, 'm');
    const r = await runCli(['pull', dir, '--into', into, '--public-key', pub]);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/UNSAFE_CONTENT: model\.pkl: .*posix\.system/);
    expect(await readdir(parent)).toEqual([]);
    const ok = await runCli(['pull', dir, '--into', into, '--public-key', pub, '--allow-unsafe-pickle']);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
