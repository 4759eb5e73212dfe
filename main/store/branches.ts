import type { Db } from './database.js';
import { PerpetuaError } from '../shared/errors.js';
import { NotFoundError } from './errors.js';
import { toMessage, toSession, type MessageRow, type SessionRow } from './rows.js';
import { activePath, HEAD, WITH_SIBLINGS } from './statements.js';
import { inTransaction, prepareTyped } from './typed-statements.js';
import type { Message, Session } from './types.js';

/**
 * The branches of a session's transcript. Messages form a tree (each follows its parent; messages with the same
 * parent are versions of one turn, made by editing or regenerating); the session's head is the leaf of the branch
 * it shows, and its transcript is the path from the first message to the head.
 */
export class Branches {
  private readonly s;

  constructor(private readonly db: Db) {
    const named = <R>(sql: string) => prepareTyped<[Record<string, unknown>], R>(db, sql);
    this.s = {
      path: named<{ id: number }>(`${activePath()} SELECT id FROM path`),
      versions: prepareTyped<[number | null, number], MessageRow>(
        db,
        `SELECT ${WITH_SIBLINGS} FROM messages m WHERE m.parent_id IS ? AND m.session_id = ? ORDER BY m.seq`,
      ),
      // the newest message under one is a leaf: its replies would be newer still
      newestUnder: prepareTyped<[number], { id: number }>(
        db,
        `WITH RECURSIVE below(id, seq) AS (SELECT id, seq FROM messages WHERE id = ?
           UNION ALL SELECT m.id, m.seq FROM messages m JOIN below ON m.parent_id = below.id AND m.seq > below.seq)
         SELECT m.id FROM messages m JOIN below ON m.id = below.id ORDER BY m.seq DESC LIMIT 1`,
      ),
      setHead: prepareTyped<[number | null, number], unknown>(db, 'UPDATE sessions SET head_message_id = ? WHERE id = ?'),
      message: prepareTyped<[number], MessageRow>(db, 'SELECT * FROM messages WHERE id = ?'),
      delete: prepareTyped<[number], unknown>(db, 'DELETE FROM messages WHERE id = ?'),
      // down from the only first message while each message has one reply, to @limit messages or the head
      down: named<{ id: number; replies: number; head: number }>(`
        WITH RECURSIVE down(id, n) AS (
          SELECT r.id, 1 FROM messages r WHERE r.parent_id IS NULL AND r.session_id = @sessionId
            AND (SELECT count(*) FROM messages x WHERE x.parent_id IS NULL AND x.session_id = @sessionId) = 1
          UNION ALL
          SELECT c.id, down.n + 1 FROM down JOIN messages c ON c.parent_id = down.id
          WHERE down.n < @limit AND down.id IS NOT ${HEAD} AND (SELECT count(*) FROM messages x WHERE x.parent_id = down.id) = 1
        )
        SELECT id, (SELECT count(*) FROM messages x WHERE x.parent_id = down.id) AS replies, ${HEAD} AS head FROM down`),
      byIds: prepareTyped<[string], MessageRow>(db, `SELECT ${WITH_SIBLINGS} FROM messages m WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.seq`),
      setSeen: prepareTyped<[number, number], SessionRow>(db, 'UPDATE sessions SET total_tokens_seen = ? WHERE id = ? RETURNING *'),
      tree: prepareTyped<[number], MessageRow>(db, 'SELECT * FROM messages WHERE session_id = ? ORDER BY seq'),
    };
  }

  /** The ids of the active branch, from its head back to the first message. */
  pathIds(sessionId: number): number[] {
    return this.s.path.all({ sessionId }).map((r) => r.id);
  }

  /**
   * The first `limit` messages of the active branch without walking it from its head (which takes as long as the
   * chat is): down from the first message while the way is unique. Undefined when a turn with versions comes first.
   */
  firstMessages(sessionId: number, limit: number): Message[] | undefined {
    const down = this.s.down.all({ sessionId, limit });
    const last = down.at(-1);
    if (!last || (down.length < limit && last.id !== last.head && last.replies > 0)) return undefined;
    return this.s.byIds.all(JSON.stringify(down.map((r) => r.id))).map(toMessage);
  }

  /** The versions of a message (it among them), oldest first, each with its place among them. */
  versionsOf(messageId: number): Message[] {
    const m = this.message(messageId);
    return this.s.versions.all(m.parent_id, m.session_id).map(toMessage);
  }

  /** Version `version` (0-based, oldest first) of a message, or a clear refusal past the last. */
  version(messageId: number, version: number): Message {
    const versions = this.versionsOf(messageId);
    if (version < versions.length) return versions[version];
    throw new PerpetuaError(`That message has ${versions.length} version(s); choose one from 1 to ${versions.length}.`, { code: 'invalid_input' });
  }

  /**
   * Shows the branch through `messageId`: the head becomes the newest leaf under it, unless the active branch already
   * passes through it. Returns whether the transcript changed.
   */
  showBranchOf(sessionId: number, messageId: number): boolean {
    return inTransaction(this.db, () => {
      if (this.message(messageId).session_id !== sessionId) throw new NotFoundError('message', messageId);
      if (this.pathIds(sessionId).includes(messageId)) return false;
      this.s.setHead.run(this.s.newestUnder.get(messageId)!.id, sessionId);
      return true;
    });
  }

  /** Shows the branch that ends at `messageId` (an imported chat's current message); replies under it stay on their branches. */
  setHead(sessionId: number, messageId: number): void {
    if (this.message(messageId).session_id !== sessionId) throw new NotFoundError('message', messageId);
    this.s.setHead.run(messageId, sessionId);
  }

  /**
   * Removes one message with the replies that follow it; snapshots that covered them go with them. When it was on the
   * active branch, its parent becomes the head. False when it did not exist.
   */
  deleteMessage(id: number): boolean {
    return inTransaction(this.db, () => {
      const m = this.s.message.get(id);
      if (!m) return false;
      const onBranch = this.pathIds(m.session_id).includes(id);
      this.s.delete.run(id);
      if (onBranch) this.s.setHead.run(m.parent_id, m.session_id);
      return true;
    });
  }

  /** Another branch is shown: the tokens the conversation has seen are that branch's (read into its cache). */
  setTokensSeen(sessionId: number, tokens: number): Session {
    const row = this.s.setSeen.get(Math.max(0, Math.round(tokens)), sessionId);
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  /** Every message of the session, every branch, in the order they were written (parents before their replies). */
  tree(sessionId: number): Message[] {
    return this.s.tree.all(sessionId).map(toMessage);
  }

  private message(id: number): MessageRow {
    const m = this.s.message.get(id);
    if (!m) throw new NotFoundError('message', id);
    return m;
  }
}
