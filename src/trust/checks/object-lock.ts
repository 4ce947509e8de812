import { ModelsealError } from '../../errors.js';

/**
 * WORM storage: every file must be under a retention period or legal hold, as the store reports it
 * in the listing (S3 Object Lock: `facts.objectLock`). Checked before any weight byte moves; a store
 * that reports nothing fails the requirement instead of passing it silently.
 */
export function requireObjectLock(entries: ReadonlyArray<{ path: string; facts?: Record<string, string> }>, where: string): void {
  const unlocked = entries.filter((e) => !e.facts?.objectLock).map((e) => e.path);
  if (unlocked.length === 0) return;
  throw new ModelsealError(
    'OBJECT_LOCK_REQUIRED',
    `${unlocked.length} object(s) under ${where} have no Object Lock retention or legal hold: ${unlocked.slice(0, 5).join(', ')}${unlocked.length > 5 ? ', …' : ''}`,
    { details: { unlocked } },
  );
}
