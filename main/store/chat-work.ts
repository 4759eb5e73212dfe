import type { Db } from './database.js';
import { prepareTyped } from './typed-statements.js';

/** Work an engine left unfinished on a chat: it froze or died in it (the process was killed, or crashed). */
export interface LeftOverWork {
  sessionId: number;
  /** what it was doing, in words ("sessions.open in the chat "Notes" with the model SmolLM2-135M") */
  what: string;
  startedAt: number;
}

/**
 * Marks, in the database, the chats the app's engine is working on (opening one, writing an answer): a row while the
 * work runs, removed when it ends, however it ends. A row an engine finds at its start was left by one that froze or
 * died in that work; the app then does not reopen that chat by itself (it would freeze again) and says so. The row stays
 * (through restarts of the whole app) until work on that chat ends well: the user opened it by hand.
 * The marks are a safeguard: a mark that cannot be written (a full disk) never fails the work itself.
 */
export class ChatWork {
  private readonly s;
  /** requests in flight per chat in this engine: the row goes when the last one ends */
  private readonly inFlight = new Map<number, number>();

  constructor(private readonly db: Db) {
    this.s = {
      all: prepareTyped<[], { session_id: number; what: string; started_at: number }>(db, 'SELECT * FROM chat_work ORDER BY started_at DESC'),
      has: prepareTyped<[number], unknown>(db, 'SELECT 1 FROM chat_work WHERE session_id = ?'),
      put: prepareTyped<[number, string, number], unknown>(db, 'INSERT OR REPLACE INTO chat_work (session_id, what, started_at) VALUES (?, ?, ?)'),
      remove: prepareTyped<[number], unknown>(db, 'DELETE FROM chat_work WHERE session_id = ?'),
    };
  }

  /** The work engines before this one left unfinished, newest first (read at start, before this one marks any). */
  leftOver(): LeftOverWork[] {
    return this.s.all.all().map((r) => ({ sessionId: r.session_id, what: r.what, startedAt: r.started_at }));
  }

  /** Whether the chat still carries a mark this engine did not make: no work on it has ended here since. */
  isLeftOver(sessionId: number): boolean {
    return !this.inFlight.has(sessionId) && this.s.has.get(sessionId) !== undefined;
  }

  /** Work on the chat begins; `end()` once it is over. */
  begin(sessionId: number, what: string): void {
    const n = this.inFlight.get(sessionId) ?? 0;
    this.inFlight.set(sessionId, n + 1);
    if (n === 0) this.quietly(() => this.s.put.run(sessionId, what, Date.now()));
  }

  end(sessionId: number): void {
    const n = (this.inFlight.get(sessionId) ?? 1) - 1;
    if (n > 0) return void this.inFlight.set(sessionId, n);
    this.inFlight.delete(sessionId);
    this.quietly(() => this.s.remove.run(sessionId));
  }

  /** The engine closes on purpose (the app quits): nothing it was doing froze. Marks it found at start stay. */
  endAll(): void {
    for (const sessionId of [...this.inFlight.keys()]) {
      this.inFlight.delete(sessionId);
      this.quietly(() => this.s.remove.run(sessionId));
    }
  }

  private quietly(write: () => unknown): void {
    try {
      if (this.db.open) write();
    } catch {
      // a mark is a safeguard: a full disk or a chat deleted meanwhile must not fail the work it marks
    }
  }
}
