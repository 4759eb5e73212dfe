import type { ErrorCode } from '../shared/errors.js';

/** How a session's cache came back when it was opened (or rebuilt after a policy switch, an edit, a regenerate or a branch switch). */
export interface RestoreReport {
  /** empty: nothing to read; resumed: from a KV snapshot (plus newer messages); rebuilt: by re-reading the transcript */
  kind: 'empty' | 'resumed' | 'rebuilt';
  /** messages read into the cache (beyond the snapshot when resumed) */
  reread: number;
  /** tokens read into the cache (beyond the snapshot when resumed) */
  rereadTokens?: number;
  ms: number;
  /** why the newest snapshot was not used; null when there was none or it was used */
  refused: { code: ErrorCode; reason: string } | null;
}

/** The report in sentences, for people: the refusal (when there was one), then what happened. */
export function describeRestore(name: string, r: RestoreReport): string[] {
  const lines = r.refused ? [r.refused.reason] : [];
  const ms = r.ms.toFixed(0);
  if (r.kind === 'resumed') lines.push(`Resumed "${name}" from its KV snapshot${r.reread ? ` and re-read ${r.reread} newer message(s)` : ''} in ${ms} ms.`);
  if (r.kind === 'rebuilt') lines.push(`Rebuilt "${name}" by re-reading its ${r.reread} message(s) in ${ms} ms.`);
  return lines;
}
