import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError } from '../errors.js';
import type { Finding } from '../formats/finding.js';
import { analyzeModelFile, type FileFormat } from '../formats/scan.js';
import { listModelFiles } from '../model/walk.js';

export type ScanVerdict = 'unsafe' | 'inconclusive' | 'clean';

export interface ModelScan {
  /** Directory the file paths are relative to. */
  root: string;
  files: Array<{ path: string; format: FileFormat; size: number }>;
  findings: Finding[];
  verdict: ScanVerdict;
}

/**
 * Scans a model directory (every regular file, git metadata skipped) or one file with the
 * scanner `pull` and the SBOM use, so a model can be gated before it is signed.
 */
export async function scanModel(target: string, opts: { ignorePaths?: readonly string[] } = {}): Promise<ModelScan> {
  const st = await lstat(target).catch((err: NodeJS.ErrnoException) => {
    throw new ModelsealError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read ${target}: ${err.message}`);
  });
  const single = st.isFile();
  const root = path.resolve(single ? path.dirname(target) : target);
  const rels = single ? [path.basename(target)] : (await listModelFiles(target, { allowSymlinks: false, ignorePaths: opts.ignorePaths ?? [] })).map((f) => f.rel);
  const out: ModelScan = { root, files: [], findings: [], verdict: 'clean' };
  for (const rel of rels) {
    const a = await analyzeModelFile(root, rel);
    out.files.push({ path: rel, format: a.format, size: a.size });
    out.findings.push(...a.findings);
  }
  out.verdict = out.findings.some((f) => f.severity === 'unsafe') ? 'unsafe' : out.findings.some((f) => f.severity === 'inconclusive') ? 'inconclusive' : 'clean';
  return out;
}
