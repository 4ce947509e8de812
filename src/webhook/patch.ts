/**
 * RFC 6902 operations the webhook emits. `add` needs its parent to exist (§4.1), so every
 * helper here checks the object it patches and creates a missing array or map whole.
 */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'test'; path: string; value: unknown };

/** RFC 6901 §3: `~` → `~0` first, then `/` → `~1`. */
export function pointerToken(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Append to an array at `path`, creating it when the object has none. */
export function appendOps(current: unknown, path: string, items: unknown[]): JsonPatchOp[] {
  if (items.length === 0) return [];
  if (!Array.isArray(current)) return [{ op: 'add', path, value: items }];
  return items.map((value) => ({ op: 'add', path: `${path}/-`, value }));
}

/** Insert at the front of an array (in order), creating it when absent. */
export function prependOps(current: unknown, path: string, items: unknown[]): JsonPatchOp[] {
  if (items.length === 0) return [];
  if (!Array.isArray(current)) return [{ op: 'add', path, value: items }];
  return items.map((value, i) => ({ op: 'add', path: `${path}/${i}`, value }));
}

/** Set keys of a map at `path`, creating the map when absent (`add` replaces an existing key). */
export function mapOps(current: unknown, path: string, entries: Record<string, unknown>): JsonPatchOp[] {
  const keys = Object.keys(entries);
  if (keys.length === 0) return [];
  if (typeof current !== 'object' || current === null || Array.isArray(current)) return [{ op: 'add', path, value: entries }];
  return keys.map((k) => ({ op: 'add', path: `${path}/${pointerToken(k)}`, value: entries[k] }));
}
