import { lstat, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError, isModelsealError } from '../errors.js';
import type { Finding } from './finding.js';
import { parseGguf, type GgufInfo } from './gguf.js';
import { isNpy, parseNpy, type NpyInfo } from './npy.js';
import { parseOnnx, type OnnxInfo } from './onnx.js';
import { looksLikePickle, scanPickle } from './pickle.js';
import { analyzePickleFile, analyzeZipModel, pickleFindings, type PickleFacts, type ZipModelInfo } from './pytorch.js';
import { openFileReader, type ByteReader } from './reader.js';
import { isSafeRelativePath, parseSafetensors, type SafetensorsInfo } from './safetensors.js';
import { isPlainObject, parseStrictJson } from './strict-json.js';
import { isZip } from './zip.js';

export type { Finding } from './finding.js';

export type FileFormat =
  | 'safetensors' | 'gguf' | 'onnx' | 'pytorch-zip' | 'npz' | 'zip' | 'pickle' | 'npy' | 'keras-h5' | 'json' | 'python'
  | 'archive-unsupported' | 'other';

export interface AnalyzedFile {
  path: string;
  format: FileFormat;
  size: number;
  findings: Finding[];
  safetensors?: SafetensorsInfo;
  gguf?: GgufInfo;
  onnx?: OnnxInfo;
  npy?: NpyInfo;
  zip?: ZipModelInfo;
  pickle?: PickleFacts;
  /** Files an ONNX model loads as external data (model-relative). */
  externalFiles?: string[];
}

const PICKLE_EXT = /\.(pkl|pickle|joblib|dill|pt|pth|ckpt|bin|mar)$/i;
const TORCH_EXT = /\.(pt|pth|ckpt)$/i;

/** Decides the format from content first (extensions are attacker-chosen), then from the name. */
async function sniff(r: ByteReader, rel: string): Promise<FileFormat> {
  const head = r.size === 0 ? new Uint8Array(0) : await r.read(0, Math.min(16, r.size));
  const ascii = Buffer.from(head).toString('latin1');
  if (ascii.startsWith('GGUF')) return 'gguf';
  if (isZip(head)) return 'zip';
  if (isNpy(head)) return 'npy';
  if (looksLikePickle(head)) return 'pickle';
  if (ascii.startsWith('\x89HDF\r\n\x1a\n')) return 'keras-h5';
  if (ascii.startsWith('7z\xbc\xaf\x27\x1c') || ascii.startsWith('Rar!')) return 'archive-unsupported';
  if (/\.safetensors$/i.test(rel) || (head.length > 8 && head[8] === 0x7b && head[7] === 0 && head[6] === 0)) return 'safetensors';
  if (/\.onnx$/i.test(rel)) return 'onnx';
  if (/\.py$/i.test(rel)) return 'python';
  if (/\.json$/i.test(rel)) return 'json';
  if (/\.(pkl|pickle|joblib|dill)$/i.test(rel)) return 'pickle';
  return 'other';
}

function formatFinding(rel: string, err: unknown): Finding {
  return { path: rel, severity: 'unknown', kind: 'format-invalid', detail: (err as Error).message };
}

/** Parses and scans one file of a model directory. Malformed content becomes a finding; I/O errors throw. */
export async function analyzeModelFile(root: string, rel: string): Promise<AnalyzedFile> {
  const full = path.join(root, ...rel.split('/'));
  const r = await openFileReader(full);
  try {
    let format = await sniff(r, rel);
    const out: AnalyzedFile = { path: rel, format, size: r.size, findings: [] };
    try {
      switch (format) {
        case 'safetensors':
          out.safetensors = await parseSafetensors(r);
          break;
        case 'gguf':
          out.gguf = await parseGguf(r);
          break;
        case 'onnx':
          out.onnx = await parseOnnx(r);
          await checkExternalData(root, rel, out);
          if (out.onnx.customDomains.length > 0) {
            out.findings.push({ path: rel, severity: 'info', kind: 'onnx-custom-domain', detail: `custom operator domains (native code at load): ${out.onnx.customDomains.join(', ')}` });
          }
          break;
        case 'npy': {
          out.npy = await parseNpy(r);
          if (out.npy.objectDtype) {
            out.findings.push({ path: rel, severity: 'info', kind: 'npy-object-dtype', detail: 'object dtype: the payload is a pickle' });
            out.findings.push(...pickleFindings(rel, '', await scanPickle(r, out.npy.dataOffset)));
          }
          break;
        }
        case 'zip': {
          const z = await analyzeZipModel(rel, r);
          out.zip = z.info;
          out.pickle = z.info.pickle;
          format = out.format = z.info.format;
          out.findings.push(...z.findings);
          if (format === 'zip' && /\.keras$/i.test(rel)) {
            out.findings.push({ path: rel, severity: 'unknown', kind: 'keras', detail: 'Keras archive: Lambda layers carry marshalled Python bytecode' });
          }
          break;
        }
        case 'pickle': {
          const p = await analyzePickleFile(rel, r);
          out.pickle = p.facts;
          out.findings.push(...p.findings);
          break;
        }
        case 'keras-h5':
          out.findings.push({ path: rel, severity: 'unknown', kind: 'keras', detail: 'HDF5/Keras model: Lambda layers carry marshalled Python bytecode' });
          break;
        case 'archive-unsupported':
          out.findings.push({ path: rel, severity: 'unknown', kind: 'archive-unsupported', detail: '7z/RAR container cannot be scanned (torch.load payloads have hidden in them)' });
          break;
        case 'python':
          out.findings.push({ path: rel, severity: 'unknown', kind: 'python-code', detail: 'Python source: runs with trust_remote_code' });
          break;
        case 'json':
          if (path.posix.basename(rel) === 'config.json' && r.size <= 16 << 20) await checkAutoMap(rel, full, out);
          break;
        case 'other':
          if (TORCH_EXT.test(rel)) {
            out.findings.push({ path: rel, severity: 'unknown', kind: 'container-unrecognized', detail: 'PyTorch file name but neither a zip nor a pickle: cannot be scanned' });
          } else if (PICKLE_EXT.test(rel) && r.size > 0 && r.size < 1 << 30) {
            // Protocol 0/1 pickles have no PROTO header: scan anything named like a pickle.
            const scan = await scanPickle(r, 0, { consecutive: true });
            if (scan.globals.length > 0 && scan.error === undefined) {
              out.format = 'pickle';
              out.findings.push(...pickleFindings(rel, '', scan));
            }
          }
          break;
      }
    } catch (err) {
      if (!isModelsealError(err, 'FORMAT_INVALID')) throw err;
      out.findings.push(formatFinding(rel, err));
    }
    return out;
  } finally {
    await r.close();
  }
}

async function checkAutoMap(rel: string, full: string, out: AnalyzedFile): Promise<void> {
  const doc = parseStrictJson(await readFile(full, 'utf8'), 'config.json', 64);
  if (isPlainObject(doc) && doc.auto_map !== undefined) {
    out.findings.push({ path: rel, severity: 'unknown', kind: 'trust-remote-code', detail: 'config.json auto_map: loading runs the model repository\'s Python code' });
  }
}

/**
 * External-data locations are attacker-chosen paths (CVE-2022-25882, CVE-2024-27318): only plain
 * relative paths that resolve inside the model, and are not symlinks, are acceptable.
 */
async function checkExternalData(root: string, rel: string, out: AnalyzedFile): Promise<void> {
  const files = new Set<string>();
  const bad = new Set<string>();
  const realRoot = await realpath(root);
  for (const e of out.onnx!.externalData) {
    if (files.has(e.location) || bad.has(e.location)) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), e.location));
    if (!isSafeRelativePath(e.location) || !isSafeRelativePath(target)) {
      bad.add(e.location);
      out.findings.push({ path: rel, severity: 'unsafe', kind: 'onnx-external-data', detail: `external data location ${JSON.stringify(e.location)} of tensor "${e.tensor}" escapes the model directory` });
      continue;
    }
    const abs = path.join(realRoot, ...target.split('/'));
    let st;
    try {
      st = await lstat(abs);
    } catch {
      bad.add(e.location);
      out.findings.push({ path: rel, severity: 'unknown', kind: 'onnx-external-data', detail: `external data file ${target} of tensor "${e.tensor}" is missing` });
      continue;
    }
    if (st.isSymbolicLink() || !st.isFile()) {
      bad.add(e.location);
      out.findings.push({ path: rel, severity: 'unsafe', kind: 'onnx-external-data', detail: `external data file ${target} is a symlink or not a regular file` });
      continue;
    }
    if (e.offset !== undefined && e.length !== undefined && e.offset + e.length > st.size) {
      out.findings.push({ path: rel, severity: 'unknown', kind: 'onnx-external-data', detail: `external data of tensor "${e.tensor}" passes the end of ${target}` });
    }
    files.add(target);
  }
  out.externalFiles = [...files].sort();
}

/** Findings for one file; `file` is an absolute or cwd-relative path. */
export async function scanModelFile(file: string): Promise<Finding[]> {
  return (await analyzeModelFile(path.dirname(file), path.basename(file))).findings;
}

/** Findings for the listed model-relative files of `dir` (POSIX separators). */
export async function scanDirectory(dir: string, files: string[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const f of files) out.push(...(await analyzeModelFile(dir, f)).findings);
  return out;
}

export interface ScanPolicy {
  /** Refuse pickles with any global off the allow-list or anything unresolvable (default on for pull). */
  blockUnsafePickles: boolean;
  /** Also refuse every other `unsafe`/`unknown` finding (remote code, TorchScript, Keras, bad formats). */
  blockAllUnsafe?: boolean;
}

/** Always blocking whatever the policy: these break the model boundary or the verifier's parsing. */
const ALWAYS_BLOCK = new Set(['onnx-external-data', 'archive-unsupported']);

/** Throws UNSAFE_CONTENT naming the first blocking finding (and its pickle global, if any). */
export function enforceScanPolicy(findings: Finding[], policy: ScanPolicy): void {
  const blocking = findings.filter((f) => {
    if (f.severity === 'info') return false;
    if (policy.blockAllUnsafe || ALWAYS_BLOCK.has(f.kind)) return true;
    // A weights file our parsers reject is one the loader may read differently: fail closed.
    return policy.blockUnsafePickles && (f.kind.startsWith('pickle-') || f.kind === 'format-invalid' || f.kind === 'archive-entry');
  });
  if (blocking.length === 0) return;
  const first = blocking[0]!;
  throw new ModelsealError('UNSAFE_CONTENT', `${first.path}: ${first.detail}${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}`, {
    details: { findings: blocking.slice(0, 50) },
  });
}
