import type { Finding } from './finding.js';
import { canDecompress, sniffCompression, withDecompressed } from './compressed.js';
import { isNpy, parseNpy, type NpyInfo } from './npy.js';
import { looksLikePickle, scanPickle, type PickleScan } from './pickle.js';
import { analyzeZipModel, importsLikeAPickle, npyFindings, pickleFindings, walkLegacyTarMember, type ZipModelInfo } from './pytorch.js';
import { sliceReader, type ByteReader } from './reader.js';
import { isTarHeader, readTarMembers } from './tar.js';
import { isZip } from './zip.js';
import { isModelsealError } from '../errors.js';

/**
 * Content-first scanning of whatever a loader would unpickle or unpack: `torch.load` opens zips,
 * then tars (the pre-zip layout), then plain pickles of any protocol; `numpy.load` falls back to
 * `pickle.load` for anything that is neither .npy nor zip; joblib and pandas decompress first.
 * Extensions are attacker-chosen, so they never decide that something is harmless.
 */

export type ContainerFormat = 'pytorch-zip' | 'npz' | 'zip' | 'pytorch-tar' | 'tar' | 'npy' | 'pickle' | 'compressed' | 'archive-unsupported' | 'other';

export interface ContainerScan {
  format: ContainerFormat;
  findings: Finding[];
  scans: PickleScan[];
  zip?: ZipModelInfo;
  npy?: NpyInfo;
}

const MAX_DEPTH = 4;
/** A decompressed stream larger than this is refused (zip-bomb guard); it lands on disk, not in memory. */
const MAX_DECOMPRESSED = 16 * 1024 ** 3;

/**
 * Names a loader reads as a pickle or PyTorch checkpoint: when their bytes are nothing we can
 * read, that is inconclusive rather than "not a pickle". (`.npy`/`.npz` without their magic go
 * to `pickle.load` in `numpy.load(allow_pickle=True)`.) Plain `.bin`/`.data` are raw tensor data
 * as often as not and are only reported when their bytes parse as a pickle.
 */
export const PICKLE_NAME = /\.(pkl|pickle|joblib|dill|pt|pth|ckpt|mar|npy|npz|tar)$|(^|\/)(pytorch_model|adapter_model|training_args|optimizer|scheduler|rng_state)[^/]*\.bin$/i;

function inconclusive(path: string, kind: string, detail: string): Finding {
  return { path, severity: 'inconclusive', kind, detail };
}

/**
 * `member` is the name the bytes go by (the file, a tar member, a decompressed stream) and only
 * decides how loudly to fail; `where` prefixes details with the location inside the file.
 */
export async function scanByContent(path: string, r: ByteReader, member: string, where: string, depth = 0): Promise<ContainerScan> {
  if (depth > MAX_DEPTH) return { format: 'other', scans: [], findings: [inconclusive(path, 'archive-entry', `${where}containers nest more than ${MAX_DEPTH} deep`)] };
  const head = r.size === 0 ? new Uint8Array(0) : await r.read(0, Math.min(512, r.size));
  try {
    if (isZip(head)) {
      const z = await analyzeZipModel(path, r, where);
      return { format: z.info.format, findings: z.findings, scans: z.scans, zip: z.info };
    }
    if (isNpy(head)) {
      const info = await parseNpy(r);
      const n = await npyFindings(path, where, r, info);
      return { format: 'npy', findings: n.findings, scans: n.scan ? [n.scan] : [], npy: info };
    }
    if (looksLikePickle(head)) {
      const scan = await scanPickle(r, 0, { consecutive: true });
      return { format: 'pickle', findings: pickleFindings(path, where, scan), scans: [scan] };
    }
    if (isTarHeader(head)) return await scanTar(path, r, where, depth);
    const c = sniffCompression(head, member);
    if (c) {
      const inner = member.replace(/\.(gz|gzip|z|zz|zlib|zst|zstd|bz2|xz|lz4|lzma)$/i, '');
      if (!canDecompress(c)) return { format: 'archive-unsupported', scans: [], findings: [inconclusive(path, 'compressed-unsupported', `${where}${c}-compressed stream cannot be decompressed here to scan it (joblib and pandas load pickles from such streams)`)] };
      try {
        const s = await withDecompressed(r, c, MAX_DECOMPRESSED, (d) => scanByContent(path, d, inner, `${where}${c} stream: `, depth + 1));
        return { ...s, format: s.format === 'other' ? 'compressed' : s.format };
      } catch (err) {
        // zlib's two-byte magic also starts text ("x^"): only a pickle-like name makes a bad stream a finding.
        if (!isModelsealError(err, 'FORMAT_INVALID') || (c === 'zlib' && !PICKLE_NAME.test(member))) throw err;
        return { format: 'compressed', scans: [], findings: [inconclusive(path, 'archive-entry', `${where}${(err as Error).message}`)] };
      }
    }
  } catch (err) {
    if (!isModelsealError(err, 'FORMAT_INVALID')) throw err;
    if (!PICKLE_NAME.test(member) && !isZip(head) && !isNpy(head) && !isTarHeader(head)) return probe(path, r, member, where);
    return { format: 'other', scans: [], findings: [inconclusive(path, 'format-invalid', `${where}${(err as Error).message}`)] };
  }
  const ascii = Buffer.from(head.subarray(0, 8)).toString('latin1');
  if (ascii.startsWith('7z\xbc\xaf\x27\x1c') || ascii.startsWith('Rar!')) {
    return { format: 'archive-unsupported', scans: [], findings: [inconclusive(path, 'archive-unsupported', `${where}7z/RAR container cannot be scanned (torch.load payloads have hidden in them)`)] };
  }
  return probe(path, r, member, where);
}

/**
 * Protocol 0 and 1 pickles have no header. Bytes under a pickle-like name are read as a pickle
 * whatever happens; other bytes count as a pickle only when they hold a well-formed import
 * (`module\nname`) or parse completely, so text and raw tensors are not reported.
 */
async function probe(path: string, r: ByteReader, member: string, where: string): Promise<ContainerScan> {
  const named = PICKLE_NAME.test(member);
  if (r.size === 0) {
    return { format: 'other', scans: [], findings: named ? [inconclusive(path, 'container-unrecognized', `${where}empty, yet named like a pickle or PyTorch checkpoint`)] : [] };
  }
  const scan = await scanPickle(r, 0, { consecutive: true });
  const imports = importsLikeAPickle(scan);
  const complete = scan.error === undefined && scan.pickles > 0;
  const progressed = scan.pickles > 0 || scan.globals.length > 0 || Object.keys(scan.calls).length > 0;
  if (imports || complete || (named && progressed)) return { format: 'pickle', findings: pickleFindings(path, where, scan), scans: [scan] };
  if (named) {
    return { format: 'other', scans: [], findings: [inconclusive(path, 'container-unrecognized', `${where}named like a pickle or PyTorch checkpoint but neither a pickle nor a known container (${scan.error ?? 'no pickle'}): cannot be scanned`)] };
  }
  return { format: 'other', scans: [], findings: [] };
}

/** Every member by content; the pre-zip torch.save members `storages` and `tensors` record by record. */
async function scanTar(path: string, r: ByteReader, where: string, depth: number): Promise<ContainerScan> {
  const members = await readTarMembers(r);
  const files = new Set(members.filter((m) => m.type === 'file').map((m) => m.name));
  const torch = files.has('pickle') && files.has('storages') && files.has('tensors');
  const out: ContainerScan = { format: torch ? 'pytorch-tar' : 'tar', findings: [], scans: [] };
  for (const m of members) {
    if (m.type === 'dir') continue;
    const w = `${where}entry "${m.name}": `;
    if (m.type !== 'file') {
      // tarfile.extractfile follows links inside the archive: the bytes scanned would not be the bytes loaded.
      out.findings.push(inconclusive(path, 'archive-entry', `${w}link or special tar entry`));
      continue;
    }
    const slice = sliceReader(r, m.offset, m.size);
    if (torch && (m.name === 'storages' || m.name === 'tensors')) {
      const scan = await walkLegacyTarMember(m.name, slice);
      out.scans.push(scan);
      out.findings.push(...pickleFindings(path, w, scan));
      continue;
    }
    const s = await scanByContent(path, slice, m.name, w, depth + 1);
    out.scans.push(...s.scans);
    out.findings.push(...s.findings);
  }
  return out;
}
