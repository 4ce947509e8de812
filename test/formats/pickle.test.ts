import { describe, expect, it } from 'vitest';
import { bufferReader } from '../../src/formats/reader.js';
import { scanPickle, summarizeTensors } from '../../src/formats/pickle.js';
import { pickleFindings } from '../../src/formats/pytorch.js';
import { PickleWriter, torchStateDictPickle } from './writers.js';

/** CPython 3.11 output, from the reference notes (section 5). */
const VECTORS = {
  posixSystemP4: '8004951d000000000000008c05706f736978948c0673797374656d9493948c02696494859452942e',
  posixSystemP2: '800263706f7369780a73797374656d0a71005802000000696471018571025271032e',
  orderedDict: '800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006171024b01732e',
  codecsBytes: '8002635f636f646563730a656e636f64650a710058020000000001710158060000006c6174696e3171028671035271042e',
  numpyBuiltins: '80049566000000000000008c056e756d70798c0473697a659394948c056e756d70798c0c5f5f6275696c74696e735f5f93949468017d7d8c0573686170656803738662680168018c046576616c86528c1d5f5f696d706f72745f5f28226f7322292e73797374656d28226964222985522e',
};

async function findings(bytes: Uint8Array) {
  return pickleFindings('m.pkl', '', await scanPickle(bufferReader(bytes), 0, { consecutive: true }));
}

describe('pickle scanner: malicious pickles are flagged with the offending global', () => {
  it('posix.system via GLOBAL (protocol 2) and STACK_GLOBAL (protocol 4)', async () => {
    for (const hex of [VECTORS.posixSystemP2, VECTORS.posixSystemP4]) {
      const f = await findings(Buffer.from(hex, 'hex'));
      expect(f).toContainEqual(expect.objectContaining({ severity: 'unsafe', kind: 'pickle-global', global: 'posix.system' }));
    }
  });

  it('builtins.exec through STACK_GLOBAL operands fetched from the memo', async () => {
    // Strings are memoised far from the STACK_GLOBAL, with a decoy in between: look-back scanners miss this.
    const p = new PickleWriter().proto(4).shortUnicode('builtins').memoize().pop().shortUnicode('exec').memoize().pop()
      .shortUnicode('collections').shortUnicode('OrderedDict').stackGlobal().pop()
      .binget(0).binget(1).stackGlobal().shortUnicode('print(1)').tuple1().reduce().stop().bytes();
    const f = await findings(p);
    expect(f.map((x) => x.global)).toEqual(['builtins.exec']);
    expect(f[0]!.severity).toBe('unsafe');
  });

  it('builtins.eval through STACK_GLOBAL operands from STRING and BINSTRING opcodes', async () => {
    const p = new PickleWriter().proto(4).string('builtins').binstring('eval').stackGlobal().shortUnicode('1+1').tuple1().reduce().stop().bytes();
    expect((await findings(p)).map((x) => x.global)).toEqual(['builtins.eval']);
  });

  it('the numpy __builtins__ route (modelscan #330)', async () => {
    const f = await findings(Buffer.from(VECTORS.numpyBuiltins, 'hex'));
    expect(f).toContainEqual(expect.objectContaining({ severity: 'unsafe', global: 'numpy.__builtins__' }));
    // numpy.size is not allow-listed either, and BUILD on a global is reported.
    expect(f).toContainEqual(expect.objectContaining({ global: 'numpy.size' }));
    expect(f.some((x) => x.kind === 'pickle-unresolved' && /BUILD mutates the global numpy.size/.test(x.detail))).toBe(true);
  });

  it('an allow-listed module with a non-listed name is not allowed (exact pairs only)', async () => {
    const p = new PickleWriter().proto(2).global('torch', 'load').emptyTuple().reduce().stop().bytes();
    expect(await findings(p)).toContainEqual(expect.objectContaining({ severity: 'unsafe', global: 'torch.load' }));
    const q = new PickleWriter().proto(2).global('collections', 'deque').emptyTuple().reduce().stop().bytes();
    expect(await findings(q)).toContainEqual(expect.objectContaining({ severity: 'inconclusive', global: 'collections.deque' }));
  });

  it('unresolvable operands and memo misses fail closed', async () => {
    const p = new PickleWriter().proto(4).binget(7).shortUnicode('system').stackGlobal().stop().bytes();
    const f = await findings(p);
    expect(f.map((x) => x.kind)).toEqual(['pickle-unresolved', 'pickle-unresolved']);
    expect(f[0]!.detail).toMatch(/memo index 7 was never set/);
    expect(f[1]!.detail).toMatch(/STACK_GLOBAL operands are not literal strings/);
  });

  it('keeps globals seen before a parse error, and reports the error', async () => {
    const p = Buffer.concat([new PickleWriter().proto(2).global('posix', 'system').bytes(), Buffer.from([0xff])]);
    const f = await findings(p);
    expect(f.map((x) => x.kind)).toEqual(['pickle-global', 'pickle-malformed']);
    expect(f[0]!.global).toBe('posix.system');
    expect(f[1]!.detail).toMatch(/unknown opcode 0xff/);
    expect((await findings(Buffer.from([0x80, 0x02, 0x4b]))).map((x) => x.kind)).toEqual(['pickle-malformed']);
    expect((await findings(Buffer.from([0x80, 0x02, 0x52, 0x2e]))).map((x) => x.kind)).toEqual(['pickle-malformed']);
  });

  it('follows consecutive pickles (legacy torch.save) into a later malicious one', async () => {
    const magic = new PickleWriter().proto(2).int(7).stop().bytes();
    const evil = Buffer.from(VECTORS.posixSystemP2, 'hex');
    expect((await findings(Buffer.concat([magic, magic, evil]))).map((x) => x.global)).toEqual(['posix.system']);
  });
});

describe('pickle scanner: benign state dicts pass', () => {
  it('OrderedDict and _codecs.encode vectors have no findings', async () => {
    expect(await findings(Buffer.from(VECTORS.orderedDict, 'hex'))).toEqual([]);
    expect(await findings(Buffer.from(VECTORS.codecsBytes, 'hex'))).toEqual([]);
  });

  it('a torch.save state dict rebuilds tensors with dtypes and shapes', async () => {
    const bytes = torchStateDictPickle([
      { name: 'fc.weight', storage: 'FloatStorage', key: '0', shape: [4, 3] },
      { name: 'fc.bias', storage: 'HalfStorage', key: '1', shape: [4] },
    ]);
    const scan = await scanPickle(bufferReader(bytes));
    expect(pickleFindings('x', '', scan)).toEqual([]);
    expect(scan.tensors).toEqual([{ dtype: 'F32', shape: [4, 3] }, { dtype: 'F16', shape: [4] }]);
    expect(summarizeTensors(scan.tensors)).toEqual({ parameterCount: 16, dtypes: { F32: 12, F16: 4 } });
    expect(scan.globals.map((g) => `${g.module}.${g.name}`)).toEqual(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch.FloatStorage', 'torch.HalfStorage']);
  });

  it('a protocol 4 state dict with FRAME, MEMOIZE and STACK_GLOBAL passes', async () => {
    const w = new PickleWriter().proto(4);
    const body = w.shortUnicode('collections').memoize().shortUnicode('OrderedDict').memoize().stackGlobal().memoize()
      .emptyTuple().reduce().memoize().shortUnicode('w').memoize()
      .shortUnicode('torch._utils').shortUnicode('_rebuild_tensor_v2').stackGlobal().memoize()
      .mark().mark().shortUnicode('storage').shortUnicode('torch').shortUnicode('BFloat16Storage').stackGlobal()
      .shortUnicode('0').shortUnicode('cpu').int(8).tuple().binpersid().int(0).int(8).tuple1().int(1).tuple1().newFalse()
      .binget(2).emptyTuple().reduce().tuple().reduce().setitem().stop().bytes();
    const scan = await scanPickle(bufferReader(body));
    expect(pickleFindings('x', '', scan)).toEqual([]);
    expect(scan.tensors).toEqual([{ dtype: 'BF16', shape: [8] }]);
  });
});
