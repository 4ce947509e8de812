import { deflateSync, gzipSync } from 'node:zlib';
import { npyRaw, PickleWriter, writeZip } from './writers.js';

/**
 * Hostile model files built the way published bypasses build them. Every payload is harmless:
 * it calls `open(marker, 'w')` (or io.FileIO / logging.FileHandler), which creates an empty file,
 * so a test can show the real loader runs it. `loader` names the Python call that would load it.
 */
export type Loader = 'pickle.load' | 'pickle.load (repeated)' | 'pickle.load (repeated, BytesIO)' | 'numpy.load' | 'gzip+pickle.load' | 'zlib+pickle.load' | 'tar+pickle.load' | 'zip+pickle.load' | 'torch.load';

export interface Construction {
  cls: number;
  id: string;
  file: string;
  loader: Loader;
  /** Which loader the file targets in the wild (the proof uses `loader`, its Python core). */
  targets: string;
  bytes: (marker: string) => Buffer;
  /** False when the payload does not create the marker (callables too destructive or too exotic to run). */
  provable?: boolean;
}

const L = (s: string): Buffer => Buffer.from(s, 'latin1');

/** `open(marker, 'w')` in each protocol's idiom. */
export const evil = {
  p0: (m: string) => L(`c__builtin__\nopen\n(S'${m}'\nS'w'\ntR.`),
  p1: (m: string) => new PickleWriter().global('__builtin__', 'open').mark().binstring(m).binstring('w').tuple().reduce().stop().bytes(),
  p2: (m: string) => new PickleWriter().proto(2).global('builtins', 'open').unicode(m).unicode('w').tuple2().reduce().stop().bytes(),
  p3: (m: string) => new PickleWriter().proto(3).global('builtins', 'open').unicode(m).unicode('w').tuple2().reduce().stop().bytes(),
  p4: (m: string) => frame(4, new PickleWriter().shortUnicode('builtins').memoize().shortUnicode('open').memoize().stackGlobal().memoize().unicode(m).shortUnicode('w').tuple2().reduce().stop().bytes()),
  p5: (m: string) => frame(5, new PickleWriter().string('builtins').binstring('open').stackGlobal().unicode(m).shortUnicode('w').tuple2().reduce().stop().bytes()),
};

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
/** PROTO n, then the body inside one FRAME (`frameLen` defaults to the body's length). */
export function frame(proto: number, body: Buffer, frameLen = body.length): Buffer {
  return Buffer.concat([Buffer.from([0x80, proto, 0x95]), u64(frameLen), body]);
}
const benign = {
  p0: L('(lp0\nI1\na.'),
  p2: new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().stop().bytes(),
};

function tar(files: Array<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    h.write(f.name, 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${f.data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    parts.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

const p2int = new PickleWriter().proto(2).int(7).stop().bytes();

export const CONSTRUCTIONS: Construction[] = [
  // 1. More than one pickle in a file.
  { cls: 1, id: 'benign p2, then p0 payload', file: 'model.pkl', loader: 'pickle.load (repeated)', targets: 'torch.load legacy (5 consecutive pickle.load calls), any loop of pickle.load', bytes: (m) => Buffer.concat([p2int, evil.p0(m)]) },
  { cls: 1, id: 'benign p0, benign p1, then p3 payload', file: 'weights.pt', loader: 'pickle.load (repeated)', targets: 'torch.load legacy', bytes: (m) => Buffer.concat([benign.p0, L(']q\x00.'), evil.p3(m)]) },
  { cls: 1, id: 'p4 FRAME holding STOP and a p1 payload after it', file: 'model.pkl', loader: 'pickle.load (repeated)', targets: 'torch.load legacy on a file, pickle.load loops on a file', bytes: (m) => frame(4, Buffer.concat([L('K\x07.'), evil.p1(m)])) },
  { cls: 1, id: 'p4 FRAME running 16 bytes past STOP, p1 payload after the frame', file: 'model.pkl', loader: 'pickle.load (repeated, BytesIO)', targets: 'torch.load legacy, pickle.load loops', bytes: (m) => { const body = Buffer.concat([L('K\x07.'), Buffer.alloc(16, 0x20)]); return Buffer.concat([frame(4, body), evil.p1(m)]); } },
  { cls: 1, id: 'memo carried over: 2nd p4 pickle MEMOIZEs builtins/open, BINGETs 0/1', file: 'model.pkl', loader: 'pickle.load (repeated)', targets: 'torch.load legacy', bytes: (m) => Buffer.concat([
    new PickleWriter().proto(4).shortUnicode('collections').memoize().shortUnicode('OrderedDict').memoize().stackGlobal().emptyTuple().reduce().stop().bytes(),
    new PickleWriter().proto(4).shortUnicode('builtins').memoize().pop().shortUnicode('open').memoize().pop().binget(0).binget(1).stackGlobal().unicode(m).shortUnicode('w').tuple2().reduce().stop().bytes(),
  ]) },
  // 2. Errors after the damage.
  { cls: 2, id: 'p0 REDUCE then invalid opcode 0xff', file: 'pytorch_model.bin', loader: 'pickle.load', targets: 'torch.load (non-zip, non-tar → pickle.load)', bytes: (m) => Buffer.concat([evil.p0(m).subarray(0, -1), Buffer.from([0xff])]) },
  { cls: 2, id: 'p0 REDUCE, stream ends before STOP', file: 'pytorch_model.bin', loader: 'pickle.load', targets: 'torch.load', bytes: (m) => evil.p0(m).subarray(0, -1) },
  { cls: 2, id: 'p1 REDUCE, then stack underflow (POP on empty)', file: 'model.ckpt', loader: 'pickle.load', targets: 'torch.load', bytes: (m) => Buffer.concat([evil.p1(m).subarray(0, -1), L('00.')]) },
  { cls: 2, id: 'p5 FRAME payload, then truncated second pickle', file: 'model.pkl', loader: 'pickle.load', targets: 'pickle.load, joblib.load', bytes: (m) => Buffer.concat([evil.p5(m), Buffer.from([0x80, 0x05, 0x95])]) },
  // 3. Names and containers.
  { cls: 3, id: 'p0 pickle named .npy (no NUMPY magic)', file: 'model.npy', loader: 'numpy.load', targets: 'numpy.load(allow_pickle=True) falls back to pickle.load', bytes: evil.p0 },
  { cls: 3, id: 'p1 pickle named .npz (not a zip)', file: 'arrays.npz', loader: 'numpy.load', targets: 'numpy.load(allow_pickle=True)', bytes: evil.p1 },
  { cls: 3, id: 'gzip of a p2 pickle', file: 'model.pkl.gz', loader: 'gzip+pickle.load', targets: 'pandas.read_pickle (compression from .gz), joblib.load (gzip magic)', bytes: (m) => gzipSync(evil.p2(m)) },
  { cls: 3, id: 'zlib of a p0 pickle', file: 'model.joblib', loader: 'zlib+pickle.load', targets: 'joblib.load (zlib magic)', bytes: (m) => deflateSync(evil.p0(m)) },
  { cls: 3, id: 'pre-zip torch tar layout: pickle member p2', file: 'pytorch_model.bin', loader: 'tar+pickle.load', targets: 'torch.load legacy_load (tarfile: storages, tensors, pickle)', bytes: (m) => tar([
    { name: 'storages', data: Buffer.concat([L('K\x00.'), L(']q\x00.')]) }, { name: 'tensors', data: L('K\x00.') }, { name: 'pickle', data: evil.p2(m) },
  ]) },
  { cls: 3, id: 'plain tar with a p1 pickle member', file: 'model.tar', loader: 'tar+pickle.load', targets: 'torch.load legacy (tarfile), untar + pickle.load', bytes: (m) => tar([{ name: 'weights.pkl', data: evil.p1(m) }]) },
  { cls: 3, id: 'zip member ARCHIVE/DATA.PKL (upper case), protocol 0', file: 'model.pt', loader: 'zip+pickle.load', targets: 'torch.load (miniz locates data.pkl case-insensitively)', bytes: (m) => writeZip([{ name: 'ARCHIVE/DATA.PKL', data: evil.p0(m) }, { name: 'ARCHIVE/version', data: L('3\n') }]) },
  { cls: 3, id: 'zip member with no pickle name, protocol 0, deflated', file: 'model.pt', loader: 'zip+pickle.load', targets: 'torch.load of a renamed record, any loader reading the member', bytes: (m) => writeZip([{ name: 'archive/extra/blob', data: evil.p0(m), deflate: true }]) },
  // 4. NumPy object dtypes.
  ...(["'object'", "'object_'", "'|O'", "'<O'", "'O8'", "'f4,O'", "[('a', '<f4'), ('b', '|O')]", "[('a', [('x', '<i8'), ('y', 'object')])]", "('|O', (2,))"] as const).map((d): Construction => ({
    cls: 4, id: `descr ${d}`, file: 'arr.npy', loader: 'numpy.load', targets: 'numpy.load(allow_pickle=True)', bytes: (m) => npyRaw(d, evil.p2(m)),
  })),
  { cls: 4, id: "descr 'object' inside .npz", file: 'arrs.npz', loader: 'numpy.load', targets: "numpy.load(allow_pickle=True)['a']", bytes: (m) => writeZip([{ name: 'a.npy', data: npyRaw("'object'", evil.p2(m)), deflate: true }]) },
  // 5. Dangerous callables (the marker is created by io.FileIO / logging.FileHandler themselves).
  { cls: 5, id: 'io.FileIO(marker, "w") p2 GLOBAL', file: 'model.pkl', loader: 'pickle.load', targets: 'pickle.load, torch.load(weights_only=False)', bytes: (m) => new PickleWriter().proto(2).global('io', 'FileIO').unicode(m).unicode('w').tuple2().reduce().stop().bytes() },
  { cls: 5, id: 'logging.FileHandler(marker) p4 STACK_GLOBAL', file: 'model.pkl', loader: 'pickle.load', targets: 'pickle.load', bytes: (m) => frame(4, new PickleWriter().shortUnicode('logging').shortUnicode('FileHandler').stackGlobal().unicode(m).tuple1().reduce().stop().bytes()) },
  ...([['pkgutil', 'resolve_name'], ['_posixsubprocess', 'fork_exec'], ['doctest', 'debug_script'], ['idlelib.calltip', 'get_entity'], ['lib2to3.pgen2.pgen', 'ParserGenerator.make_label'],
    ['torch._dynamo.guards', 'GuardBuilder.get'], ['torch.fx.experimental.symbolic_shapes', 'ShapeEnv.evaluate_guards_expression'], ['torch.jit.unsupported_tensor_ops', 'execWrapper'], ['_io', 'FileIO']] as const).map(([mod, name]): Construction => ({
    cls: 5, id: `${mod}.${name} p4 STACK_GLOBAL`, file: 'model.pkl', loader: 'pickle.load', targets: 'pickle.load, torch.load(weights_only=False)', provable: false,
    bytes: () => frame(4, new PickleWriter().shortUnicode(mod).shortUnicode(name).stackGlobal().shortUnicode('x').tuple1().reduce().stop().bytes()),
  })),
];

/** Real `pickle.dumps` output of NumPy 2.4 (numpy._core) and the NumPy 1 spelling (numpy.core). */
export const NUMPY_BENIGN = {
  arangeP2: '8002636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e6461727261790a71014b00857102635f636f646563730a656e636f64650a710358010000006271045806000000' +
    '6c6174696e317105867106527107877108527109284b014b0385710a636e756d70790a64747970650a710b58020000006634710c898887710d52710e284b0358010000003c710f4e4e4e4affffffff4affffffff4b0074711062896803580d000000000000000000c2803f0000004071116805867112527113747114622e',
  dictP4: '800495db000000000000007d94288c0177948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b024b02869468058c0564747970659493948c02663894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494628943200000000000000000000000000000000000000000000000000000000000000000947494628c016494680e8c02693894898887945294284b0368124e4e4e4affffffff4affffffff4b00749462752e',
};
