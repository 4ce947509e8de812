import { lstat, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError, isModelsealError } from '../errors.js';
import type { Finding } from './finding.js';
import { checkChatTemplate } from './chat-template.js';
import { sniffCompression } from './compressed.js';
import { scanByContent } from './containers.js';
import { parseGguf, type GgufInfo } from './gguf.js';
import { isNpy, type NpyInfo } from './npy.js';
import { parseOnnx, type OnnxInfo } from './onnx.js';
import { looksLikePickle } from './pickle.js';
import { mergePickleFacts, type PickleFacts, type ZipModelInfo } from './pytorch.js';
import { openFileReader, type ByteReader } from './reader.js';
import { isSafeRelativePath, parseSafetensors, type SafetensorsInfo } from './safetensors.js';
import { isPlainObject, parseStrictJson } from './strict-json.js';
import { analyzeKerasArchive } from './keras.js';
import { analyzeSavedModel } from './savedmodel.js';
import { isTarHeader } from './tar.js';
import { isZip } from './zip.js';

export type { Finding } from './finding.js';

export type FileFormat =
  | 'safetensors' | 'gguf' | 'onnx' | 'savedmodel' | 'pytorch-zip' | 'npz' | 'zip' | 'pytorch-tar' | 'tar' | 'compressed' | 'pickle' | 'npy'
  | 'keras' | 'keras-h5' | 'json' | 'jinja' | 'python' | 'archive-unsupported' | 'other';

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

/** What the first bytes say; `container` is everything a loader may unpickle or unpack (containers.ts). */
type Sniffed = 'safetensors' | 'gguf' | 'onnx' | 'savedmodel' | 'keras-h5' | 'json' | 'jinja' | 'python' | 'container';

/** Decides the format from content first (extensions are attacker-chosen), then from the name. */
async function sniff(r: ByteReader, rel: string): Promise<Sniffed> {
  const head = r.size === 0 ? new Uint8Array(0) : await r.read(0, Math.min(512, r.size));
  const ascii = Buffer.from(head.subarray(0, 16)).toString('latin1');
  if (ascii.startsWith('GGUF')) return 'gguf';
  if (ascii.startsWith('\x89HDF\r\n\x1a\n')) return 'keras-h5';
  if (isZip(head) || isNpy(head) || looksLikePickle(head) || isTarHeader(head) || sniffCompression(head, rel)) return 'container';
  if (ascii.startsWith('7z\xbc\xaf\x27\x1c') || ascii.startsWith('Rar!')) return 'container';
  if (/\.safetensors$/i.test(rel) || (head.length > 8 && head[8] === 0x7b && head[7] === 0 && head[6] === 0)) return 'safetensors';
  if (/\.onnx$/i.test(rel)) return 'onnx';
  if (/(^|\/)saved_model\.pb$/i.test(rel)) return 'savedmodel';
  if (/\.py$/i.test(rel)) return 'python';
  if (/\.json$/i.test(rel)) return 'json';
  if (/\.jinja2?$/i.test(rel)) return 'jinja';
  return 'container';
}

function formatFinding(rel: string, err: unknown): Finding {
  return { path: rel, severity: 'inconclusive', kind: 'format-invalid', detail: (err as Error).message };
}

/** Parses and scans one file of a model directory. Malformed content becomes a finding; I/O errors throw. */
export async function analyzeModelFile(root: string, rel: string): Promise<AnalyzedFile> {
  const full = path.join(root, ...rel.split('/'));
  const r = await openFileReader(full);
  try {
    const sniffed = await sniff(r, rel);
    const out: AnalyzedFile = { path: rel, format: sniffed === 'container' ? 'other' : sniffed, size: r.size, findings: [] };
    try {
      switch (sniffed) {
        case 'safetensors':
          out.safetensors = await parseSafetensors(r);
          break;
        case 'gguf':
          out.gguf = await parseGguf(r);
          if (out.gguf.chatTemplate !== undefined) out.findings.push(...templateFindings(rel, 'tokenizer.chat_template', out.gguf.chatTemplate));
          break;
        case 'onnx':
          out.onnx = await parseOnnx(r);
          await checkExternalData(root, rel, out);
          if (out.onnx.customDomains.length > 0) {
            out.findings.push({ path: rel, severity: 'info', kind: 'onnx-custom-domain', detail: `custom operator domains (native code at load): ${out.onnx.customDomains.join(', ')}` });
          }
          break;
        case 'savedmodel':
          out.findings.push(...(await analyzeSavedModel(rel, r)).findings);
          break;
        case 'container': {
          const c = await scanByContent(rel, r, rel, '');
          out.format = c.format;
          out.findings.push(...c.findings);
          if (c.zip) out.zip = c.zip;
          if (c.npy) out.npy = c.npy;
          if (c.scans.length > 0) out.pickle = c.zip?.pickle ?? mergePickleFacts(c.scans);
          if (out.format === 'zip') {
            const keras = await analyzeKerasArchive(rel, r, /\.keras$/i.test(rel));
            if (keras) {
              out.format = 'keras';
              out.findings.push(...keras);
            }
          }
          break;
        }
        case 'keras-h5':
          out.findings.push({ path: rel, severity: 'inconclusive', kind: 'keras', detail: 'HDF5/Keras model: Lambda layers carry marshalled Python bytecode' });
          break;
        case 'python':
          out.findings.push({ path: rel, severity: 'inconclusive', kind: 'python-code', detail: 'Python source: runs with trust_remote_code' });
          break;
        case 'json':
          if (path.posix.basename(rel) === 'config.json' && r.size <= 16 << 20) await checkAutoMap(rel, full, out);
          if (/^(tokenizer_config|chat_template)\.json$/.test(path.posix.basename(rel)) && r.size <= 64 << 20) await checkJsonTemplates(rel, full, out);
          break;
        case 'jinja':
          if (r.size > 16 << 20) out.findings.push({ path: rel, severity: 'inconclusive', kind: 'chat-template', detail: `template of ${r.size} bytes is too large to check` });
          else out.findings.push(...templateFindings(rel, 'template', (await readFile(full)).toString('utf8')));
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

function templateFindings(rel: string, where: string, template: string): Finding[] {
  return checkChatTemplate(template).map((i) => ({ path: rel, severity: i.severity, kind: 'chat-template', detail: `${where}: ${i.detail}` }));
}

/** `chat_template` in tokenizer_config.json / chat_template.json: a string or `[{name, template}]`. */
async function checkJsonTemplates(rel: string, full: string, out: AnalyzedFile): Promise<void> {
  const doc = parseStrictJson(await readFile(full, 'utf8'), path.posix.basename(rel), 64);
  const ct = isPlainObject(doc) ? doc.chat_template : undefined;
  if (typeof ct === 'string') out.findings.push(...templateFindings(rel, 'chat_template', ct));
  else if (Array.isArray(ct)) {
    for (const t of ct) {
      if (isPlainObject(t) && typeof t.template === 'string') out.findings.push(...templateFindings(rel, `chat_template "${String(t.name)}"`, t.template));
    }
  }
}

async function checkAutoMap(rel: string, full: string, out: AnalyzedFile): Promise<void> {
  const doc = parseStrictJson(await readFile(full, 'utf8'), 'config.json', 64);
  if (isPlainObject(doc) && doc.auto_map !== undefined) {
    out.findings.push({ path: rel, severity: 'inconclusive', kind: 'trust-remote-code', detail: 'config.json auto_map: loading runs the model repository\'s Python code' });
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
      out.findings.push({ path: rel, severity: 'inconclusive', kind: 'onnx-external-data', detail: `external data file ${target} of tensor "${e.tensor}" is missing` });
      continue;
    }
    if (st.isSymbolicLink() || !st.isFile()) {
      bad.add(e.location);
      out.findings.push({ path: rel, severity: 'unsafe', kind: 'onnx-external-data', detail: `external data file ${target} is a symlink or not a regular file` });
      continue;
    }
    if (e.offset !== undefined && e.length !== undefined && e.offset + e.length > st.size) {
      out.findings.push({ path: rel, severity: 'inconclusive', kind: 'onnx-external-data', detail: `external data of tensor "${e.tensor}" passes the end of ${target}` });
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
  /** Refuse every `unsafe` and `inconclusive` finding (remote code, TorchScript, Keras, bad formats). */
  blockAllUnsafe?: boolean;
  /** Refuse every `inconclusive` finding as well as what the other options refuse (`modelseal scan --strict`). */
  blockInconclusive?: boolean;
}

/** Always blocking whatever the policy: these break the model boundary or the verifier's parsing. */
const ALWAYS_BLOCK = new Set(['onnx-external-data', 'archive-unsupported']);
/**
 * What the pickle policy covers: anything a loader may unpickle that could not be shown safe,
 * including bytes named like a checkpoint that no reader recognises and streams that could not
 * be opened (a loader that can open them would run what is inside).
 */
const PICKLE_KINDS = new Set(['format-invalid', 'archive-entry', 'container-unrecognized', 'compressed-unsupported']);

/** Throws UNSAFE_CONTENT naming the first blocking finding (and its pickle global, if any). */
export function enforceScanPolicy(findings: Finding[], policy: ScanPolicy): void {
  const blocking = findings.filter((f) => {
    if (f.severity === 'info') return false;
    if (ALWAYS_BLOCK.has(f.kind)) return true;
    if (policy.blockAllUnsafe || (policy.blockInconclusive && f.severity === 'inconclusive')) return true;
    // A weights file our parsers reject is one the loader may read differently: fail closed.
    return policy.blockUnsafePickles && (f.kind.startsWith('pickle-') || PICKLE_KINDS.has(f.kind));
  });
  if (blocking.length === 0) return;
  const first = blocking[0]!;
  throw new ModelsealError('UNSAFE_CONTENT', `${first.path}: ${first.detail}${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}`, {
    details: { findings: blocking.slice(0, 50) },
  });
}
