import type { Receipt } from '../placement/receipt.js';
import type { ModelSource } from '../stores/types.js';

/**
 * The receipt's `delivery` section: per file, `cache` or the endpoint that served it (a mirror's
 * API root or `origin`), and the mirrors skipped on the way. Undefined when neither a cache
 * nor mirrors took part (the source delivered everything, as before).
 */
export async function receiptDelivery(source: ModelSource, cached: string[]): Promise<Receipt['delivery'] | undefined> {
  const report = (await source.delivery?.()) ?? { files: {}, skipped: [] };
  const files: NonNullable<Receipt['delivery']>['files'] = {};
  for (const [p, d] of Object.entries(report.files)) files[p] = { from: d.from, blob: d.blob };
  for (const p of cached) files[p] = { from: 'cache' };
  const viaMirror = Object.values(files).some((f) => f.from !== 'origin');
  if (!viaMirror && report.skipped.length === 0) return undefined;
  return { files, skipped: report.skipped };
}
