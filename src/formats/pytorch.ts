import { bufferReader, type ByteReader } from './reader.js';
import type { Finding } from './finding.js';
import { emptyScan, looksLikePickle, scanPickle, summarizeTensors, type PickleScan } from './pickle.js';
import { isNpy, parseNpy } from './npy.js';
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
      detail: `${where}pickle global ${full} is not on the PyTorch weights_only allow-list (${g.opcode} at offset ${g.offset})`,
    });
  }
  for (const u of scan.unresolved.slice(0, 20)) {
    out.push({ path, severity: 'unknown', kind: 'pickle-unresolved', detail: `${where}${u.opcode} at offset ${u.offset}: ${u.reason}` });
  }
  if (scan.error !== undefined) {
    out.push({ path, severity: 'unknown', kind: 'pickle-malformed', detail: `${where}pickle stream is malformed: ${scan.error}` });
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

function isStorageEntry(name: string): boolean {
  return /^[^/]+\/data\/[^/]+$/.test(name) || /^data\/[^/]+$/.test(name);
}

/**
 * PyTorch zip checkpoints, TorchScript archives and .npz: every entry whose bytes start like a
 * pickle is scanned whatever its name (GHSA-769v); storages are raw bytes that may start like
 * one by chance, so a storage is only reported when it parses as a pickle with globals.
 */
export async function analyzeZipModel(path: string, r: ByteReader): Promise<{ info: ZipModelInfo; findings: Finding[] }> {
  const entries = await readZipDirectory(r);
  const findings: Finding[] = [];
  const scans: PickleScan[] = [];
  let torchScript = false;
  let sawDataPkl = false;
  let npyCount = 0;
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    if (/(^|\/)code\/.+\.py$/.test(e.name)) torchScript = true;
    let head: Uint8Array;
    try {
      head = e.uncompressedSize === 0 ? new Uint8Array(0) : await readZipEntryHead(r, e, 8);
    } catch (err) {
      findings.push({ path, severity: 'unknown', kind: 'archive-entry', detail: `entry "${e.name}" cannot be read: ${(err as Error).message}` });
      continue;
    }
    const where = `entry "${e.name}": `;
    if (isNpy(head)) {
      npyCount++;
      findings.push(...(await npyEntry(path, r, e, where)));
      continue;
    }
    if (!looksLikePickle(head) && !e.name.endsWith('.pkl')) continue;
    if (e.name.endsWith('data.pkl')) sawDataPkl = true;
    let bytes: Uint8Array;
    try {
      bytes = await readZipEntry(r, e, MAX_PICKLE_ENTRY);
    } catch (err) {
      findings.push({ path, severity: 'unknown', kind: 'pickle-malformed', detail: `${where}cannot be read: ${(err as Error).message}` });
      continue;
    }
    const scan = await scanPickle(bufferReader(bytes), 0, { consecutive: false });
    if (isStorageEntry(e.name) && (scan.error !== undefined || scan.globals.length === 0)) continue;
    scans.push(scan);
    findings.push(...pickleFindings(path, where, scan));
  }
  if (torchScript) {
    findings.push({ path, severity: 'unknown', kind: 'torchscript-code', detail: 'TorchScript archive: contains code/ that torch.jit.load compiles and runs' });
  }
  const format = sawDataPkl ? 'pytorch-zip' : npyCount > 0 && npyCount === entries.length ? 'npz' : 'zip';
  return { info: { format, entries: entries.length, torchScript, pickle: mergePickleFacts(scans.length ? scans : [emptyScan()]) }, findings };
}

async function npyEntry(path: string, r: ByteReader, e: ZipEntry, where: string): Promise<Finding[]> {
  // The header is at most 1 MiB; only object arrays need the whole entry.
  const head = await readZipEntryHead(r, e, Math.min(e.uncompressedSize, 1 << 20));
  let info;
  try {
    info = await parseNpy(bufferReader(head));
  } catch (err) {
    return [{ path, severity: 'unknown', kind: 'format-invalid', detail: `${where}${(err as Error).message}` }];
  }
  if (!info.objectDtype) return [];
  const bytes = await readZipEntry(r, e, MAX_PICKLE_ENTRY);
  const scan = await scanPickle(bufferReader(bytes), info.dataOffset);
  return [
    { path, severity: 'info', kind: 'npy-object-dtype', detail: `${where}object dtype: loading needs allow_pickle=True` },
    ...pickleFindings(path, where, scan),
  ];
}
