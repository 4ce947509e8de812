import { bufferReader, formatError, type ByteReader } from './reader.js';
import type { Finding } from './finding.js';
import { elementSize, emptyScan, looksLikePickle, PickleStream, scanPickle, summarizeTensors, type PickleScan } from './pickle.js';
import { storageDtype } from './pickle-globals.js';
import { isNpy, parseNpy, type NpyInfo } from './npy.js';
import { readZipDirectory, readZipEntry, readZipEntryHead, type ZipEntry } from './zip.js';

/** data.pkl of even very large checkpoints is a few MB; anything near this is hostile. */
const MAX_PICKLE_ENTRY = 512 << 20;

export interface PickleFacts {
  parameterCount: number;
  dtypes: Record<string, number>;
  tensorCount: number;
  globals: string[];
  pickles: number;
}

export interface ZipModelInfo {
  format: 'pytorch-zip' | 'npz' | 'zip';
  entries: number;
  torchScript: boolean;
  pickle: PickleFacts;
}

/** Turns a pickle scan into findings: every global off the allow-list, every unresolved call, any parse error. */
export function pickleFindings(path: string, where: string, scan: PickleScan): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const g of scan.globals) {
    const full = `${g.module}.${g.name}`;
    if (g.verdict === 'allowed' || seen.has(full)) continue;
    seen.add(full);
    out.push({
      path, severity: g.verdict, kind: 'pickle-global', global: full,
      detail: g.reason
        ? `${where}pickle global ${full} ${g.reason} (${g.opcode} at offset ${g.offset})`
        : `${where}pickle global ${full} is not on the PyTorch weights_only allow-list (${g.opcode} at offset ${g.offset})`,
    });
  }
  for (const u of scan.unresolved.slice(0, 20)) {
    out.push({ path, severity: 'inconclusive', kind: 'pickle-unresolved', detail: `${where}${u.opcode} at offset ${u.offset}: ${u.reason}` });
  }
  if (scan.error !== undefined) {
    out.push({ path, severity: 'inconclusive', kind: 'pickle-malformed', detail: `${where}pickle stream is malformed: ${scan.error}` });
  }
  return out;
}

export function mergePickleFacts(scans: PickleScan[]): PickleFacts {
  const tensors = scans.flatMap((s) => s.tensors);
  const { parameterCount, dtypes } = summarizeTensors(tensors);
  const globals = [...new Set(scans.flatMap((s) => s.globals.map((g) => `${g.module}.${g.name}`)))].sort();
  return { parameterCount, dtypes, tensorCount: tensors.length, globals, pickles: scans.reduce((a, s) => a + s.pickles, 0) };
}

/** Legacy `torch.save`, joblib, plain pickles: consecutive pickles from byte 0. */
export async function analyzePickleFile(path: string, r: ByteReader): Promise<{ facts: PickleFacts; findings: Finding[] }> {
  const scan = await scanPickle(r, 0, { consecutive: true });
  return { facts: mergePickleFacts([scan]), findings: pickleFindings(path, '', scan) };
}

/**
 * The `storages` and `tensors` members of the pre-zip tar layout, read as torch's `legacy_load`
 * reads them: a count pickle, then per record an argument pickle followed by raw bytes (storage
 * data: int64 element count and the elements; tensor: int32 ndim, 4 bytes, sizes, strides,
 * offset). Whatever follows the records is scanned as further pickles.
 */
export async function walkLegacyTarMember(name: 'storages' | 'tensors', r: ByteReader): Promise<PickleScan> {
  const s = new PickleStream(r);
  try {
    const count = await s.load();
    if (count.t !== 'int' || count.v < 0n || count.v > 10_000_000n) throw formatError('pickle', `legacy ${name} count is not a small integer`);
    for (let i = 0; i < Number(count.v); i++) {
      const args = await s.load();
      if (name === 'storages') {
        const cls = args.t === 'tuple' ? args.items[2] : undefined;
        const dtype = cls?.t === 'global' ? storageDtype(cls.module, cls.name) : undefined;
        const size = dtype === undefined ? undefined : elementSize(dtype);
        if (size === undefined) throw formatError('pickle', `legacy storage record ${i} has no known storage type`);
        const bytes = (await s.int64('legacy storage size')) * size;
        if (!Number.isSafeInteger(bytes)) throw formatError('pickle', 'legacy storage size is out of range');
        s.skip(bytes);
      } else {
        const ndim = await s.int32();
        if (ndim < 0 || ndim > 64) throw formatError('pickle', `legacy tensor record ${i} has ${ndim} dimensions`);
        s.skip(4 + 16 * ndim + 8);
      }
    }
    while (!s.atEnd) await s.load();
  } catch (err) {
    s.out.error = err instanceof Error ? err.message : String(err);
  }
  return s.out;
}

function isStorageEntry(name: string): boolean {
  return /^[^/]+\/data\/[^/]+$/.test(name) || /^data\/[^/]+$/.test(name);
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Does a stream that is not obviously a pickle work like one: import a well-formed `module\nname`
 * and call it? Text whose first lines happen to read as a GLOBAL (a labels file "cat\ndog") does
 * not get as far as a call.
 */
export function importsLikeAPickle(scan: PickleScan): boolean {
  return scan.invoked > 0 && scan.globals.some((g) => IDENT.test(g.module) && IDENT.test(g.name));
}

/**
 * PyTorch zip checkpoints, TorchScript archives and .npz: every entry is judged by content
 * (GHSA-769v). torch finds `data.pkl` case-insensitively (miniz without its case-sensitive flag),
 * so `DATA.PKL` is the same record; protocol 0/1 pickles have no header, so entries that are not
 * storages are read as pickles when they import like one. Storages are raw bytes that may start
 * like a pickle by chance, so a storage is only reported when it parses as one with globals.
 */
export async function analyzeZipModel(path: string, r: ByteReader, outer = ''): Promise<{ info: ZipModelInfo; findings: Finding[]; scans: PickleScan[] }> {
  const entries = await readZipDirectory(r);
  const findings: Finding[] = [];
  const scans: PickleScan[] = [];
  let torchScript = false;
  let sawDataPkl = false;
  let npyCount = 0;
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    if (/(^|\/)code\/.+\.py$/i.test(e.name)) torchScript = true;
    const where = `${outer}entry "${e.name}": `;
    let head: Uint8Array;
    try {
      head = e.uncompressedSize === 0 ? new Uint8Array(0) : await readZipEntryHead(r, e, Math.min(e.uncompressedSize, 1 << 20));
    } catch (err) {
      findings.push({ path, severity: 'inconclusive', kind: 'archive-entry', detail: `${where}cannot be read: ${(err as Error).message}` });
      continue;
    }
    if (isNpy(head)) {
      npyCount++;
      findings.push(...(await npyEntry(path, r, e, where, head)));
      continue;
    }
    const pickleNamed = /\.pkl$/i.test(e.name);
    if (!looksLikePickle(head) && !pickleNamed) {
      if (isStorageEntry(e.name) || head.length === 0) continue;
      if (!importsLikeAPickle(await scanPickle(bufferReader(head), 0, { consecutive: true }))) continue;
    }
    if (/(^|\/)data\.pkl$/i.test(e.name)) sawDataPkl = true;
    let bytes: Uint8Array;
    try {
      bytes = await readZipEntry(r, e, MAX_PICKLE_ENTRY);
    } catch (err) {
      findings.push({ path, severity: 'inconclusive', kind: 'pickle-malformed', detail: `${where}cannot be read: ${(err as Error).message}` });
      continue;
    }
    const scan = await scanPickle(bufferReader(bytes), 0, { consecutive: true });
    if (isStorageEntry(e.name) && (scan.error !== undefined || scan.globals.length === 0)) continue;
    scans.push(scan);
    findings.push(...pickleFindings(path, where, scan));
  }
  if (torchScript) {
    findings.push({ path, severity: 'inconclusive', kind: 'torchscript-code', detail: `${outer}TorchScript archive: contains code/ that torch.jit.load compiles and runs` });
  }
  const format = sawDataPkl ? 'pytorch-zip' : npyCount > 0 && npyCount === entries.length ? 'npz' : 'zip';
  return { info: { format, entries: entries.length, torchScript, pickle: mergePickleFacts(scans.length ? scans : [emptyScan()]) }, findings, scans };
}

/** The pickle inside an object-dtype .npy (`descr` parsed, see npy.ts). */
export async function npyFindings(path: string, where: string, r: ByteReader, info: NpyInfo): Promise<{ findings: Finding[]; scan?: PickleScan }> {
  if (!info.objectDtype) return { findings: [] };
  const scan = await scanPickle(r, info.dataOffset);
  return {
    findings: [{ path, severity: 'info', kind: 'npy-object-dtype', detail: `${where}object dtype (descr ${info.descr}): numpy.load(allow_pickle=True) unpickles the payload` }, ...pickleFindings(path, where, scan)],
    scan,
  };
}

async function npyEntry(path: string, r: ByteReader, e: ZipEntry, where: string, head: Uint8Array): Promise<Finding[]> {
  // The header is at most 1 MiB; only object arrays need the whole entry.
  let info;
  try {
    info = await parseNpy(bufferReader(head));
  } catch (err) {
    return [{ path, severity: 'inconclusive', kind: 'format-invalid', detail: `${where}${(err as Error).message}` }];
  }
  if (!info.objectDtype) return [];
  return (await npyFindings(path, where, bufferReader(await readZipEntry(r, e, MAX_PICKLE_ENTRY)), info)).findings;
}
