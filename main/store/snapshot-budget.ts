import type { AppSettings } from './app-settings.js';
import type { Db } from './database.js';
import { inTransaction, prepareTyped } from './typed-statements.js';

/**
 * Snapshots may take this much disk across all chats unless the user sets another budget. A 1,024-token cache of a
 * 0.5B model is ~12 MB, of the catalog's larger ones up to ~100 MB: a few dozen chats resume from their caches,
 * older ones re-read their transcripts.
 */
export const DEFAULT_SNAPSHOT_BUDGET = 4 * 2 ** 30;

/** The app setting that holds the budget the user chose (bytes). */
export const SNAPSHOT_BUDGET_KEY = 'snapshotBudgetBytes';

/** What one chat's snapshots take. */
export interface SnapshotUsage {
  sessionId: number;
  bytes: number;
  /** when the chat was last used (its newest message or change) */
  updatedAt: number;
}

/**
 * The disk budget for KV snapshots across all chats: the snapshots of the least recently used chats go first, and
 * those chats re-read their transcripts when opened again (the transcript is the source of truth). Sizes come from
 * the rows' headers (length of the blobs), never from reading the blobs.
 */
export class SnapshotBudget {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly settings: AppSettings,
  ) {
    this.s = {
      usage: prepareTyped<[], { session_id: number; bytes: number; updated_at: number }>(db, `
        SELECT s.id AS session_id, s.updated_at AS updated_at,
          coalesce((SELECT sum(length(x.bytes)) FROM snapshots x WHERE x.session_id = s.id), 0) +
          coalesce((SELECT sum(length(c.bytes)) FROM snapshot_chunks c WHERE c.session_id = s.id), 0) AS bytes
        FROM sessions s ORDER BY s.updated_at ASC, s.id ASC`),
      drop: prepareTyped<[number], unknown>(db, 'DELETE FROM snapshots WHERE session_id = ?'),
    };
  }

  /** The budget the user set (a stored value that is no byte count counts as unset), else the default. */
  budget(): number {
    const stored = this.settings.get(SNAPSHOT_BUDGET_KEY);
    return typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 ? stored : DEFAULT_SNAPSHOT_BUDGET;
  }

  /** Stores the budget for every chat's next save; the caller enforces it at once where it shrank. */
  setBudget(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`A snapshot budget is a whole number of bytes, got ${bytes}.`);
    this.settings.set(SNAPSHOT_BUDGET_KEY, bytes);
  }

  /** Each chat's snapshots (chats without any left out), least recently used first. */
  usage(): SnapshotUsage[] {
    return this.s.usage.all().filter((r) => r.bytes > 0).map((r) => ({ sessionId: r.session_id, bytes: r.bytes, updatedAt: r.updated_at }));
  }

  /** Bytes all snapshots take. */
  total(): number {
    return this.usage().reduce((n, u) => n + u.bytes, 0);
  }

  /**
   * Drops whole chats' snapshots, least recently used first, until all fit in `budget` bytes; `spare` (the chat
   * being saved) keeps its own. Returns the chats whose snapshots were dropped.
   */
  enforce(budget = this.budget(), spare?: number): number[] {
    return inTransaction(this.db, () => {
      const usage = this.usage();
      let total = usage.reduce((n, u) => n + u.bytes, 0);
      const dropped: number[] = [];
      for (const u of usage) {
        if (total <= budget) break;
        if (u.sessionId === spare) continue;
        this.s.drop.run(u.sessionId); // their chunks go with the last manifest naming them
        total -= u.bytes;
        dropped.push(u.sessionId);
      }
      return dropped;
    });
  }
}
