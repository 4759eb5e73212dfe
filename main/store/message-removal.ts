import type { Db } from './database.js';
import { PerpetuaError } from '../shared/errors.js';
import { NotFoundError } from './errors.js';
import type { MessageRow } from './rows.js';
import { inTransaction, prepareTyped } from './typed-statements.js';

/** What one removal took out, enough to put it back exactly (ids, order, versions, the branch shown). */
export interface MessageRemoval {
  sessionId: number;
  messageId: number;
  /** the rows taken out as they were stored, parents first: the message, and for a version the replies under it */
  rows: MessageRow[];
  /** the replies that followed the message and now follow its parent */
  reattached: number[];
  /** the session's head before and after the removal */
  headBefore: number | null;
  headAfter: number | null;
}

/**
 * Deleting one message of a chat, as LM Studio and Jan do it: only that message goes, and the messages after it
 * follow the one before it. A message that is one of several versions (edited or regenerated) goes with the replies
 * under it instead (they belong to that version's branch), and the chat shows a neighbouring version. Every snapshot
 * of the chat goes too: each one that covers the conversation past the message holds its text in the KV cache.
 * The removal can be put back (undo) as long as the chat has not moved on.
 */
export class MessageRemovals {
  private readonly s;

  constructor(private readonly db: Db) {
    const p = <P extends unknown[], R = unknown>(sql: string) => prepareTyped<P, R>(db, sql);
    this.s = {
      message: p<[number], MessageRow>('SELECT * FROM messages WHERE id = ?'),
      versions: p<[number | null, number], { id: number }>('SELECT id FROM messages WHERE parent_id IS ? AND session_id = ? ORDER BY seq'),
      replies: p<[number], { id: number }>('SELECT id FROM messages WHERE parent_id = ? ORDER BY seq'),
      subtree: p<[number], MessageRow>(
        `WITH RECURSIVE below(id) AS (SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id)
         SELECT m.* FROM messages m JOIN below ON m.id = below.id ORDER BY m.seq`,
      ),
      newestUnder: p<[number], { id: number }>(
        `WITH RECURSIVE below(id) AS (SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id)
         SELECT m.id FROM messages m JOIN below ON m.id = below.id ORDER BY m.seq DESC LIMIT 1`,
      ),
      head: p<[number], { head: number | null }>('SELECT head_message_id AS head FROM sessions WHERE id = ?'),
      setHead: p<[number | null, number], unknown>('UPDATE sessions SET head_message_id = ? WHERE id = ?'),
      reattach: p<[number | null, number], unknown>('UPDATE messages SET parent_id = ? WHERE parent_id = ?'),
      reattachOne: p<[number, number, number | null], unknown>('UPDATE messages SET parent_id = ? WHERE id = ? AND parent_id IS ?'),
      delete: p<[number], unknown>('DELETE FROM messages WHERE id = ?'),
      taken: p<[number, number, number], { n: number }>('SELECT count(*) AS n FROM messages WHERE id = ? OR (session_id = ? AND seq = ?)'),
      insert: prepareTyped<[Record<string, unknown>], unknown>(
        db,
        `INSERT INTO messages (id, session_id, seq, role, text, token_count, state, stats, created_at, updated_at, parent_id)
         VALUES (@id, @session_id, @seq, @role, @text, @token_count, @state, @stats, @created_at, @updated_at, @parent_id)`,
      ),
      dropSnapshots: p<[number], unknown>('DELETE FROM snapshots WHERE session_id = ?'),
    };
  }

  /** Takes one message out of its chat (see the class comment); the chat's snapshots go with it. */
  remove(messageId: number): MessageRemoval {
    return inTransaction(this.db, () => {
      const m = this.s.message.get(messageId);
      if (!m) throw new NotFoundError('message', messageId);
      const sessionId = m.session_id;
      const headBefore = this.s.head.get(sessionId)?.head ?? null;
      const versions = this.s.versions.all(m.parent_id, sessionId).map((r) => r.id);
      let removal: Omit<MessageRemoval, 'headAfter'>;
      let headAfter = headBefore;
      if (versions.length > 1) {
        const rows = this.s.subtree.all(messageId);
        this.s.delete.run(messageId); // its replies go with it (ON DELETE CASCADE)
        if (headBefore === null || rows.some((r) => r.id === headBefore)) {
          const at = versions.indexOf(messageId);
          const neighbour = versions[at > 0 ? at - 1 : at + 1]!;
          headAfter = this.s.newestUnder.get(neighbour)!.id;
        }
        removal = { sessionId, messageId, rows, reattached: [], headBefore };
      } else {
        const reattached = this.s.replies.all(messageId).map((r) => r.id);
        this.s.reattach.run(m.parent_id, messageId);
        this.s.delete.run(messageId);
        if (headBefore === messageId) headAfter = m.parent_id;
        removal = { sessionId, messageId, rows: [m], reattached, headBefore };
      }
      this.s.setHead.run(headAfter, sessionId);
      this.s.dropSnapshots.run(sessionId);
      return { ...removal, headAfter };
    });
  }

  /**
   * Puts a removal back: the same messages with the same ids, order and versions, the same branch shown. Refused
   * (stale) once the chat has moved on (another message, another branch shown, the chat deleted); the chat's snapshots
   * go, since those written meanwhile lack the message.
   */
  restore(removal: MessageRemoval): void {
    inTransaction(this.db, () => {
      const { sessionId, rows, reattached } = removal;
      const first = rows[0]!;
      const head = this.s.head.get(sessionId);
      const parentThere = first.parent_id === null || this.s.message.get(first.parent_id)?.session_id === sessionId;
      const free = rows.every((r) => this.s.taken.get(r.id, sessionId, r.seq)!.n === 0);
      if (!head || head.head !== removal.headAfter || !parentThere || !free) {
        throw new PerpetuaError('The chat has changed since that message was deleted, so it cannot be put back.', { code: 'stale' });
      }
      for (const r of rows) this.s.insert.run({ ...r });
      for (const id of reattached) this.s.reattachOne.run(first.id, id, first.parent_id);
      this.s.setHead.run(removal.headBefore, sessionId);
      this.s.dropSnapshots.run(sessionId);
    });
  }
}
