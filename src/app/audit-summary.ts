import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelsealError, oneLine } from '../errors.js';
import type { Receipt } from '../placement/receipt.js';
import type { SignerIdentity } from '../signatures/core/types.js';
import { MAX_RECEIPT_BYTES, readReceipt } from '../placement/receipt-file.js';

/**
 * `audit --receipts DIR`: what was served where, by digest and signer, read from the receipts
 * alone (no re-hashing; `audit <dir> --receipt F` proves a single deployment).
 */
export interface ReceiptRow {
  file: string;
  reference: string;
  resolvedDigest?: string;
  rootDigest?: string;
  signer: SignerIdentity;
  placedAt: string;
  createdAt: string;
  files: number;
  bytes: number;
  policyRule?: string;
}

export interface DigestGroup {
  /** `sha256:<root digest>`, or the resolved digest for a legacy signature without one. */
  digest: string;
  references: string[];
  signers: string[];
  placements: string[];
  receipts: number;
}

export interface ReceiptSummary {
  dir: string;
  receipts: ReceiptRow[];
  byDigest: DigestGroup[];
  invalid: Array<{ file: string; reason: string }>;
}

/** Receipts are `*.json` files (any depth) with `receiptVersion`; other JSON is not ours and is skipped. */
async function candidates(dir: string, depth = 0): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (depth === 0) throw new ModelsealError('NOT_FOUND', `cannot read receipts directory ${dir}: ${err.code ?? err.message}`);
    return [];
  });
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    // Placed model trees are sealed 0555 and hold no receipts; staging folders are hidden.
    if (e.isDirectory() && !e.name.startsWith('.') && depth < 4) out.push(...(await candidates(p, depth + 1)));
    else if (e.isFile() && e.name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** `*.receipt.json` always claims to be one; other JSON only when it has a `receiptVersion` key. */
async function claimsToBeReceipt(file: string): Promise<boolean> {
  if (file.endsWith('.receipt.json')) return true;
  const st = await stat(file);
  if (st.size > MAX_RECEIPT_BYTES) return false;
  try {
    const v: unknown = JSON.parse(await readFile(file, 'utf8'));
    return typeof v === 'object' && v !== null && 'receiptVersion' in v;
  } catch {
    return false;
  }
}

export async function summarizeReceipts(dir: string): Promise<ReceiptSummary> {
  const summary: ReceiptSummary = { dir: path.resolve(dir), receipts: [], byDigest: [], invalid: [] };
  for (const file of (await candidates(dir)).sort()) {
    let r: Receipt;
    try {
      if (!(await claimsToBeReceipt(file))) continue;
      r = await readReceipt(file);
    } catch (err) {
      summary.invalid.push({ file, reason: oneLine(err) });
      continue;
    }
    summary.receipts.push({
      file,
      reference: r.reference,
      ...(r.resolvedDigest ? { resolvedDigest: r.resolvedDigest } : {}),
      ...(r.model.rootDigest ? { rootDigest: r.model.rootDigest } : {}),
      signer: r.signer,
      placedAt: r.placedAt,
      createdAt: r.createdAt,
      files: r.model.files.length,
      bytes: r.model.files.reduce((n, f) => n + f.size, 0),
      ...(r.policy?.rule ? { policyRule: r.policy.rule } : {}),
    });
  }
  const groups = new Map<string, DigestGroup>();
  for (const row of summary.receipts) {
    const digest = row.rootDigest ? `sha256:${row.rootDigest}` : (row.resolvedDigest ?? '(unknown)');
    const g = groups.get(digest) ?? { digest, references: [], signers: [], placements: [], receipts: 0 };
    const signer = row.signer.issuer ? `${row.signer.identity} (${row.signer.issuer})` : row.signer.identity;
    if (!g.references.includes(row.reference)) g.references.push(row.reference);
    if (!g.signers.includes(signer)) g.signers.push(signer);
    if (!g.placements.includes(row.placedAt)) g.placements.push(row.placedAt);
    g.receipts++;
    groups.set(digest, g);
  }
  summary.byDigest = [...groups.values()].sort((a, b) => b.receipts - a.receipts || a.digest.localeCompare(b.digest));
  return summary;
}

export function renderSummary(s: ReceiptSummary): string {
  const lines = [`${s.receipts.length} receipt(s) in ${s.dir}, ${s.byDigest.length} distinct model digest(s)`];
  for (const g of s.byDigest) {
    lines.push(`\n${g.digest}  (${g.receipts} receipt${g.receipts === 1 ? '' : 's'})`);
    lines.push(`  references: ${g.references.join(', ')}`);
    lines.push(`  signed by:  ${g.signers.join(', ')}`);
    lines.push(`  placed at:  ${g.placements.join(', ')}`);
  }
  for (const bad of s.invalid) lines.push(`\nINVALID ${bad.file}: ${bad.reason}`);
  return lines.join('\n');
}
