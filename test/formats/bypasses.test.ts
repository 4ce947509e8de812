import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeModelFile } from '../../src/formats/scan.js';
import { CONSTRUCTIONS, NUMPY_BENIGN, frame, type Construction, type Loader } from './bypass-corpus.js';
import { npyRaw, PickleWriter, writeZip } from './writers.js';

/**
 * Issue 17: each construction is a payload a real loader runs. The scanner must call it unsafe;
 * where the machine's Python can load it (python3 from Debian; numpy from python3-numpy, see
 * scripts/install-system-deps.sh), the test also shows the loader really runs it.
 */

const python = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' }).stdout.trim() === '3';
const numpy = python && spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

const LOADERS: Record<Loader, string> = {
  'pickle.load': 'import pickle\ntry: pickle.load(open(p, "rb"))\nexcept Exception: pass',
  'pickle.load (repeated)': 'import pickle\nf = open(p, "rb")\nfor _ in range(10):\n  try: pickle.load(f)\n  except Exception: break',
  'pickle.load (repeated, BytesIO)': 'import pickle, io\nf = io.BytesIO(open(p, "rb").read())\nfor _ in range(10):\n  try: pickle.load(f)\n  except Exception: break',
  'numpy.load': 'import numpy\ntry:\n  x = numpy.load(p, allow_pickle=True)\n  if hasattr(x, "files"): [x[n] for n in x.files]\nexcept Exception: pass',
  'gzip+pickle.load': 'import gzip, pickle\ntry: pickle.load(gzip.open(p))\nexcept Exception: pass',
  'zlib+pickle.load': 'import zlib, pickle\ntry: pickle.loads(zlib.decompress(open(p, "rb").read()))\nexcept Exception: pass',
  'tar+pickle.load': 'import tarfile, pickle\nt = tarfile.open(p)\nfor m in t.getmembers():\n  if m.name == "pickle" or m.name.endswith(".pkl"):\n    try: pickle.load(t.extractfile(m))\n    except Exception: pass',
  'zip+pickle.load': 'import zipfile, pickle\nz = zipfile.ZipFile(p)\nfor n in z.namelist():\n  try: pickle.loads(z.read(n))\n  except Exception: pass',
  'torch.load': 'raise SystemExit(3)',
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelseal-bypass-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function place(c: Construction, i: number): Promise<{ root: string; marker: string }> {
  const root = path.join(dir, `c${i}`);
  await mkdir(root, { recursive: true });
  const marker = path.join(root, 'RAN');
  await writeFile(path.join(root, c.file), c.bytes(marker));
  return { root, marker };
}

/** One file alone in a fresh model directory. */
async function scan(name: string, bytes: Buffer) {
  const root = await mkdtemp(path.join(dir, 'one-'));
  await writeFile(path.join(root, name), bytes);
  return analyzeModelFile(root, name);
}

function runsUnderLoader(c: Construction, file: string): boolean {
  const r = spawnSync('python3', ['-c', `import sys\np = sys.argv[1]\n${LOADERS[c.loader]}`, file], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`python3 loader failed: ${r.stderr}`);
  return true;
}

for (const cls of [1, 2, 3, 4, 5]) {
  describe(`issue 17 class ${cls}`, () => {
    CONSTRUCTIONS.forEach((c, i) => {
      if (c.cls !== cls) return;
      it(`${c.id} (${c.file}, targets ${c.targets}) is unsafe`, async () => {
        const { root, marker } = await place(c, i);
        const a = await analyzeModelFile(root, c.file);
        const unsafe = a.findings.filter((f) => f.severity === 'unsafe');
        expect(unsafe.length, JSON.stringify(a.findings)).toBeGreaterThan(0);
        if (cls === 5) expect(unsafe[0]!.detail).toMatch(/\[.+\]/); // reason with its source
        // The scanner never runs anything.
        expect(existsSync(marker)).toBe(false);
        const provable = c.provable !== false && python && (c.loader !== 'numpy.load' || numpy);
        if (provable) {
          runsUnderLoader(c, path.join(root, c.file));
          expect(existsSync(marker), `${c.loader} did not run the payload`).toBe(true);
        }
      });
    });
  });
}

describe('issue 17 class 6: benign NumPy pickles', () => {
  it('numpy._core and numpy.core reconstruct, ndarray and dtype pass (the decision in pickle-globals.ts)', async () => {
    for (const hex of Object.values(NUMPY_BENIGN)) {
      const a = await scan('arrays.pkl', Buffer.from(hex, 'hex'));
      expect(a.findings).toEqual([]);
      expect(a.pickle?.globals).toEqual(expect.arrayContaining(['numpy.ndarray', 'numpy.dtype']));
    }
    const np1 = Buffer.from(Buffer.from(NUMPY_BENIGN.arangeP2, 'hex').toString('latin1').replace('numpy._core.multiarray', 'numpy.core.multiarray'), 'latin1');
    expect((await scan('np1.pkl', np1)).findings).toEqual([]);
    // The same array as an object-dtype .npy: info only, its payload judged on its globals.
    const a = await scan('obj.npy', npyRaw("'|O'", Buffer.from(NUMPY_BENIGN.arangeP2, 'hex')));
    expect(a.findings.map((f) => f.severity)).toEqual(['info']);
  });

  it('other numpy names stay off the allow-list: exact pairs only', async () => {
    const g = (mod: string, name: string) => new PickleWriter().proto(2).global(mod, name).emptyTuple().reduce().stop().bytes();
    expect((await scan('a.pkl', g('numpy', 'load'))).findings[0]).toMatchObject({ severity: 'unsafe', global: 'numpy.load' });
    expect((await scan('b.pkl', g('numpy', '__builtins__'))).findings[0]).toMatchObject({ severity: 'unsafe' });
    expect((await scan('c.pkl', g('numpy.f2py.crackfortran', 'getlincoef'))).findings[0]).toMatchObject({ severity: 'unsafe' });
    expect((await scan('d.pkl', g('numpy', 'frombuffer'))).findings[0]).toMatchObject({ severity: 'inconclusive' });
  });
});

describe('benign files stay clean; what cannot be read is inconclusive', () => {
  it('a legacy torch.save file: five pickles, then raw storages walked record by record', async () => {
    const magic = Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.from('6c fc 9c 46 f9 20 6a a8 50 19'.replace(/ /g, ''), 'hex'), Buffer.from('.')]);
    const obj = new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce()
      .unicode('w').global('torch._utils', '_rebuild_tensor_v2').mark()
      .mark().unicode('storage').global('torch', 'FloatStorage').unicode('0').unicode('cpu').int(3).tuple().binpersid()
      .int(0).int(3).tuple1().int(1).tuple1().newFalse().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitem().stop().bytes();
    const keys = new PickleWriter().proto(2).mark().unicode('0').tuple().stop().bytes();
    const listKeys = Buffer.concat([Buffer.from([0x80, 0x02, 0x5d]), new PickleWriter().unicode('0').bytes(), Buffer.from('a.')]);
    const storage = Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(12, 0x41)]);
    const file = Buffer.concat([magic, new PickleWriter().proto(2).int(1001).stop().bytes(), new PickleWriter().proto(2).emptyDict().stop().bytes(), obj, listKeys, storage]);
    const a = await scan('legacy.pt', file);
    expect(a.findings).toEqual([]);
    expect(a.pickle).toMatchObject({ pickles: 5, tensorCount: 1 });
    // A payload pickle appended after the storages is still found.
    const after = await scan('legacy2.pt', Buffer.concat([file, new PickleWriter().proto(2).global('posix', 'system').unicode('true').tuple1().reduce().stop().bytes()]));
    expect(after.findings).toContainEqual(expect.objectContaining({ severity: 'unsafe', global: 'posix.system' }));
    expect(keys.length).toBeGreaterThan(0);
  });

  it('text, raw tensors, gzip of a benign pickle and numeric .npy have no findings', async () => {
    expect((await scan('README.md', Buffer.from('config\nfoo bar\n# A model\n'))).findings).toEqual([]);
    expect((await scan('vocab.txt', Buffer.from('[PAD]\n[unused0]\nthe\n'))).findings).toEqual([]);
    expect((await scan('labels.txt', Buffer.from('cat\ndog\nbird\nRabbit\n'))).findings).toEqual([]);
    expect((await scan('marks.bin', Buffer.alloc(3 << 20, 0x28))).findings).toEqual([]);
    expect((await scan('notes.txt', Buffer.from('x^ not zlib\n'))).findings).toEqual([]);
    const raw = Buffer.alloc(4096);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
    expect((await scan('w.bin', raw)).findings).toEqual([]);
    expect((await scan('ok.pkl.gz', gzipSync(new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().stop().bytes()))).findings).toEqual([]);
    expect((await scan('s.npy', npyRaw("[('a', '<f4'), ('b', [('c', '|u1')]), ('d', '<M8[ns]', (2,))]", Buffer.alloc(0)))).findings).toEqual([]);
    const npz = writeZip([{ name: 'x.npy', data: npyRaw("'<f8'", Buffer.alloc(8)), deflate: true }]);
    expect((await scan('x.npz', npz)).findings).toEqual([]);
  });

  it('a pickle-named file that is nothing readable, an xz stream and a FRAME past the end are inconclusive', async () => {
    expect((await scan('model.pkl', Buffer.from([0x00, 0x01, 0x02]))).findings.map((f) => [f.severity, f.kind])).toEqual([['inconclusive', 'container-unrecognized']]);
    expect((await scan('model.pkl.xz', Buffer.from('fd377a585a000004e6d6b446', 'hex'))).findings.map((f) => f.kind)).toEqual(['compressed-unsupported']);
    const f = (await scan('frame.pkl', frame(4, Buffer.from('K\x01.', 'latin1'), 1000))).findings;
    expect(f.map((x) => [x.severity, x.kind])).toEqual([['inconclusive', 'pickle-malformed']]);
  });
});
