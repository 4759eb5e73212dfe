import type { Db } from './database.js';
import { inTransaction, prepareTyped } from './typed-statements.js';
import { SessionLocks } from './session-locks.js';
import { InvalidNameError, NotFoundError, SessionNameTakenError } from './errors.js';
import { toFtsQuery } from './fts-query.js';
import { isShowableName, toWellFormed } from './text.js';
import {
  SNIPPET_MARK_END,
  SNIPPET_MARK_START,
  type AbRun,
  type AbVote,
  type EvalRun,
  type Message,
  type MessageState,
  type Model,
  type NewAbRun,
  type NewEvalRun,
  type NewMessage,
  type NewModel,
  type NewSession,
  type PolicyName,
  type PolicyParams,
  type SearchHit,
  type Session,
  type SessionSummary,
  type SnapshotInfo,
  type StoredSnapshot,
} from './types.js';

// Row shapes as SQLite returns them (snake_case, JSON as text).
interface ModelRow { id: number; name: string; dir: string; fingerprint: string; config: string; created_at: number }
interface SessionRow {
  id: number; name: string; model_id: number; policy: string; policy_params: string; system_prompt: string;
  total_tokens_seen: number; created_at: number; updated_at: number;
}
interface SummaryRow extends SessionRow {
  message_count: number; last_id: number | null; last_role: string | null; last_state: string | null;
  last_text: string | null; last_created_at: number | null;
}
interface MessageRow {
  id: number; session_id: number; seq: number; role: string; text: string; token_count: number; state: string;
  created_at: number; updated_at: number;
}
interface SearchRow { session_id: number; session_name: string; message_id: number; seq: number; role: string; snippet: string; created_at: number }
interface SnapshotRow { id: number; session_id: number; message_id: number | null; created_at: number; size: number; bytes?: Buffer }
interface AbRunRow {
  id: number; session_id: number | null; created_at: number; prompt: string; branch_a: string; branch_b: string;
  metrics: string; vote: string | null;
}
interface EvalRunRow { id: number; created_at: number; kind: string; model: string; params: string; result: string }

/** Characters of the last message kept for session lists. */
const PREVIEW_CHARS = 160;
const SEARCH_SNIPPET_TOKENS = 16;

/**
 * All reads and writes of the chat database, as prepared statements. Plain data in and out; one
 * instance per connection, built by the core at start and passed down.
 */
export class Store {
  private readonly s;

  constructor(readonly db: Db) {
    // failures come out typed: damaged, read-only, full (typed-statements.ts)
    const p = <R = unknown>(sql: string) => prepareTyped<unknown[], R>(db, sql);
    // Statements that use a value twice take named parameters (better-sqlite3 has no ?NNN).
    const named = <R = unknown>(sql: string) => prepareTyped<[Record<string, unknown>], R>(db, sql);
    this.s = {
      upsertModel: p<ModelRow>(`
        INSERT INTO models (name, dir, fingerprint, config, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name, dir = excluded.dir, config = excluded.config
        RETURNING *`),
      getModel: p<ModelRow>('SELECT * FROM models WHERE id = ?'),
      listModels: p<ModelRow>('SELECT * FROM models ORDER BY name, id'),

      createSession: p<SessionRow>(`
        INSERT INTO sessions (name, model_id, policy, policy_params, system_prompt, total_tokens_seen, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, 0, ?, ?) RETURNING *`),
      getSession: p<SessionRow>('SELECT * FROM sessions WHERE id = ?'),
      getSessionByName: p<SessionRow>('SELECT * FROM sessions WHERE name = ?'),
      listSessions: p<SummaryRow>(`
        SELECT s.*,
               (SELECT count(*) FROM messages c WHERE c.session_id = s.id) AS message_count,
               m.id AS last_id, m.role AS last_role, m.state AS last_state,
               substr(m.text, 1, ${PREVIEW_CHARS * 2}) AS last_text, m.created_at AS last_created_at
        FROM sessions s
        LEFT JOIN messages m
          ON m.id = (SELECT l.id FROM messages l WHERE l.session_id = s.id ORDER BY l.seq DESC LIMIT 1)
        ORDER BY s.updated_at DESC, s.id DESC`),
      updateSessionPolicy: p<SessionRow>(
        'UPDATE sessions SET policy = ?, policy_params = ?, updated_at = ? WHERE id = ? RETURNING *'),
      renameSession: p<SessionRow>('UPDATE sessions SET name = ?, updated_at = ? WHERE id = ? RETURNING *'),
      deleteSession: p('DELETE FROM sessions WHERE id = ?'),
      addTokensSeen: p<SessionRow>(
        'UPDATE sessions SET total_tokens_seen = total_tokens_seen + ?, updated_at = ? WHERE id = ? RETURNING *'),
      touchSession: p('UPDATE sessions SET updated_at = ? WHERE id = ?'),

      appendMessage: named<MessageRow>(`
        INSERT INTO messages (session_id, seq, role, text, token_count, state, created_at, updated_at)
        VALUES (@sessionId, (SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session_id = @sessionId),
                @role, @text, @tokenCount, @state, @now, @now)
        RETURNING *`),
      getMessage: p<MessageRow>('SELECT * FROM messages WHERE id = ?'),
      updateMessageText: p<MessageRow>(`
        UPDATE messages SET text = ?, state = ?, token_count = coalesce(?, token_count), updated_at = ?
        WHERE id = ? RETURNING *`),
      listMessages: p<MessageRow>(
        'SELECT * FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      listMessagesBefore: p<MessageRow>(
        'SELECT * FROM (SELECT * FROM messages WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
      deleteMessage: p('DELETE FROM messages WHERE id = ?'),
      setMessageState: p('UPDATE messages SET state = ?, updated_at = ? WHERE id = ?'),
      markInterrupted: p(
        "UPDATE messages SET state = 'stopped', updated_at = ? WHERE state = 'streaming' AND session_id NOT IN (SELECT value FROM json_each(?))"),

      search: named<SearchRow>(`
        SELECT m.session_id, s.name AS session_name, m.id AS message_id, m.seq, m.role, m.created_at,
               snippet(messages_fts, 0, '${SNIPPET_MARK_START}', '${SNIPPET_MARK_END}', '…', ${SEARCH_SNIPPET_TOKENS}) AS snippet
        FROM messages_fts
        JOIN messages m ON m.id = messages_fts.rowid
        JOIN sessions s ON s.id = m.session_id
        WHERE messages_fts MATCH @query AND (@sessionId IS NULL OR m.session_id = @sessionId)
        ORDER BY rank
        LIMIT @limit`),

      insertSnapshot: p<SnapshotRow>(`
        INSERT INTO snapshots (session_id, message_id, created_at, bytes, size) VALUES (?, ?, ?, ?, ?)
        RETURNING id, session_id, message_id, created_at, size`),
      pruneSnapshots: named(`
        DELETE FROM snapshots WHERE session_id = @sessionId AND id NOT IN
          (SELECT id FROM snapshots WHERE session_id = @sessionId ORDER BY id DESC LIMIT @keep)`),
      latestSnapshot: p<SnapshotRow>('SELECT * FROM snapshots WHERE session_id = ? ORDER BY id DESC LIMIT 1'),
      getSnapshot: p<SnapshotRow>('SELECT * FROM snapshots WHERE id = ?'),
      deleteSnapshot: p('DELETE FROM snapshots WHERE id = ?'),
      listSnapshots: p<SnapshotRow>(
        'SELECT id, session_id, message_id, created_at, size FROM snapshots WHERE session_id = ? ORDER BY id DESC'),

      recordAbRun: p<AbRunRow>(`
        INSERT INTO ab_runs (session_id, created_at, prompt, branch_a, branch_b, metrics, vote)
        VALUES (?, ?, ?, ?, ?, ?, NULL) RETURNING *`),
      listAbRuns: named<AbRunRow>(
        'SELECT * FROM ab_runs WHERE (@sessionId IS NULL OR session_id = @sessionId) ORDER BY id DESC'),
      voteAbRun: p<AbRunRow>('UPDATE ab_runs SET vote = ? WHERE id = ? RETURNING *'),

      recordEvalRun: p<EvalRunRow>(
        'INSERT INTO eval_runs (created_at, kind, model, params, result) VALUES (?, ?, ?, ?, ?) RETURNING *'),
      listEvalRuns: named<EvalRunRow>('SELECT * FROM eval_runs WHERE (@kind IS NULL OR kind = @kind) ORDER BY id DESC'),
    };
  }

  // ── models ──────────────────────────────────────────────────────────────────────────────────────

  /** Inserts a model, or updates name/dir/config of the one with the same fingerprint. */
  upsertModel(m: NewModel): Model {
    return toModel(this.s.upsertModel.get(m.name, m.dir, m.fingerprint, json(m.config ?? {}), Date.now())!);
  }

  getModel(id: number): Model | undefined {
    const row = this.s.getModel.get(id);
    return row && toModel(row);
  }

  listModels(): Model[] {
    return this.s.listModels.all().map(toModel);
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  createSession(n: NewSession): Session {
    if (!isShowableName(n.name)) throw new InvalidNameError(n.name);
    if (!this.s.getModel.get(n.modelId)) throw new NotFoundError('model', n.modelId);
    const now = Date.now();
    try {
      return toSession(
        this.s.createSession.get(
          toWellFormed(n.name), n.modelId, n.policy, json(n.policyParams), toWellFormed(n.systemPrompt ?? ''), now, now,
        )!,
      );
    } catch (error) {
      throw uniqueNameError(error, n.name);
    }
  }

  getSession(id: number): Session | undefined {
    const row = this.s.getSession.get(id);
    return row && toSession(row);
  }

  getSessionByName(name: string): Session | undefined {
    const row = this.s.getSessionByName.get(toWellFormed(name));
    return row && toSession(row);
  }

  /** All sessions, most recently active first, with message count and a preview of the last message. */
  listSessions(): SessionSummary[] {
    return this.s.listSessions.all().map((r) => ({
      ...toSession(r),
      messageCount: r.message_count,
      lastMessage:
        r.last_id === null
          ? null
          : {
              id: r.last_id,
              role: r.last_role as Message['role'],
              state: r.last_state as MessageState,
              text: preview(r.last_text ?? ''),
              createdAt: r.last_created_at!,
            },
    }));
  }

  updateSessionPolicy(sessionId: number, policy: PolicyName, params: PolicyParams): Session {
    const row = this.s.updateSessionPolicy.get(policy, json(params), Date.now(), sessionId);
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  renameSession(sessionId: number, name: string): Session {
    if (!isShowableName(name)) throw new InvalidNameError(name);
    let row: SessionRow | undefined;
    try {
      row = this.s.renameSession.get(toWellFormed(name), Date.now(), sessionId);
    } catch (error) {
      throw uniqueNameError(error, name);
    }
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  /** Deletes a session with its messages and snapshots; its A/B runs stay. False if it did not exist. */
  deleteSession(sessionId: number): boolean {
    return this.s.deleteSession.run(sessionId).changes > 0;
  }

  addTokensSeen(sessionId: number, tokens: number): Session {
    if (!Number.isSafeInteger(tokens) || tokens < 0) {
      throw new RangeError(`addTokensSeen expects a non-negative integer, got ${tokens}.`);
    }
    const row = this.s.addTokensSeen.get(tokens, Date.now(), sessionId);
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  // ── messages ────────────────────────────────────────────────────────────────────────────────────

  /** Appends a message at the end of the session's transcript (text stored well-formed, see text.ts). */
  appendMessage(sessionId: number, m: NewMessage): Message {
    return inTransaction(this.db, () => {
      const now = Date.now();
      if (this.s.touchSession.run(now, sessionId).changes === 0) throw new NotFoundError('session', sessionId);
      return toMessage(
        this.s.appendMessage.get({
          sessionId,
          role: m.role,
          text: toWellFormed(m.text),
          tokenCount: m.tokenCount ?? 0,
          state: m.state ?? 'done',
          now,
        })!,
      );
    });
  }

  getMessage(id: number): Message | undefined {
    const row = this.s.getMessage.get(id);
    return row && toMessage(row);
  }

  /** Replaces a message's text and state (token count too, when given). The search index follows. */
  updateMessageText(id: number, text: string, state: MessageState, tokenCount?: number): Message {
    return inTransaction(this.db, () => {
      const now = Date.now();
      const row = this.s.updateMessageText.get(toWellFormed(text), state, tokenCount ?? null, now, id);
      if (!row) throw new NotFoundError('message', id);
      this.s.touchSession.run(now, row.session_id);
      return toMessage(row);
    });
  }

  /** The transcript in order; `afterSeq`/`limit` page through long sessions. */
  listMessages(sessionId: number, page: { afterSeq?: number; limit?: number } = {}): Message[] {
    return this.s.listMessages.all(sessionId, page.afterSeq ?? 0, page.limit ?? -1).map(toMessage);
  }

  /** The `limit` messages just before `beforeSeq`, oldest first (paging back through a long session). */
  listMessagesBefore(sessionId: number, beforeSeq: number, limit: number): Message[] {
    return this.s.listMessagesBefore.all(sessionId, beforeSeq, limit).map(toMessage);
  }

  /** Removes one message (a regenerated answer); snapshots that covered it go with it. */
  deleteMessage(id: number): boolean {
    return this.s.deleteMessage.run(id).changes > 0;
  }

  /** Changes only a message's state (its text, and so the search index, stay untouched). */
  setMessageState(id: number, state: MessageState): void {
    if (this.s.setMessageState.run(state, Date.now(), id).changes === 0) throw new NotFoundError('message', id);
  }

  /**
   * Marks replies that were still streaming (a crash interrupted them) as stopped; returns how many. Sessions
   * another live process holds (session-locks.ts) are still streaming there, and are left alone.
   */
  markInterruptedMessages(): number {
    const live = [...new SessionLocks(this.db).heldElsewhere()];
    return this.s.markInterrupted.run(Date.now(), JSON.stringify(live)).changes;
  }

  /**
   * Full-text search over all transcripts (or one session), best matches first. Any input is safe:
   * it is searched as words, never parsed as FTS5 syntax (see fts-query.ts).
   */
  search(text: string, options: { sessionId?: number; limit?: number } = {}): SearchHit[] {
    const query = toFtsQuery(text);
    if (query === null) return [];
    const rows = this.s.search.all({ query, sessionId: options.sessionId ?? null, limit: options.limit ?? 50 });
    return rows.map((r) => ({
      sessionId: r.session_id,
      sessionName: r.session_name,
      messageId: r.message_id,
      seq: r.seq,
      role: r.role as Message['role'],
      snippet: r.snippet,
      createdAt: r.created_at,
    }));
  }

  // ── KV snapshots ────────────────────────────────────────────────────────────────────────────────

  /** Stores a snapshot and keeps only the newest `keep` of the session. */
  saveSnapshot(sessionId: number, messageId: number | null, bytes: Uint8Array, keep = 3): SnapshotInfo {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`saveSnapshot keeps at least 1 snapshot, got ${keep}.`);
    return inTransaction(this.db, () => {
      if (!this.s.getSession.get(sessionId)) throw new NotFoundError('session', sessionId);
      if (messageId !== null && this.s.getMessage.get(messageId)?.session_id !== sessionId) {
        throw new NotFoundError('message', messageId);
      }
      // A view, not a copy: snapshots can be hundreds of MB.
      const blob = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const row = this.s.insertSnapshot.get(sessionId, messageId, Date.now(), blob, bytes.byteLength)!;
      this.s.pruneSnapshots.run({ sessionId, keep });
      return toSnapshotInfo(row);
    });
  }

  latestSnapshot(sessionId: number): StoredSnapshot | undefined {
    const row = this.s.latestSnapshot.get(sessionId);
    return row && { ...toSnapshotInfo(row), bytes: row.bytes! };
  }

  getSnapshot(id: number): StoredSnapshot | undefined {
    const row = this.s.getSnapshot.get(id);
    return row && { ...toSnapshotInfo(row), bytes: row.bytes! };
  }

  /** Removes a snapshot that cannot be used, so it never stands in the way of a session again. */
  deleteSnapshot(id: number): boolean {
    return this.s.deleteSnapshot.run(id).changes > 0;
  }

  /** Newest first, without the bytes. */
  listSnapshots(sessionId: number): SnapshotInfo[] {
    return this.s.listSnapshots.all(sessionId).map(toSnapshotInfo);
  }

  // ── A/B runs and evals ──────────────────────────────────────────────────────────────────────────

  recordAbRun(r: NewAbRun): AbRun {
    return toAbRun(
      this.s.recordAbRun.get(r.sessionId, Date.now(), toWellFormed(r.prompt), json(r.branchA), json(r.branchB), json(r.metrics))!,
    );
  }

  /** Newest first; all sessions when `sessionId` is omitted. */
  listAbRuns(sessionId?: number): AbRun[] {
    return this.s.listAbRuns.all({ sessionId: sessionId ?? null }).map(toAbRun);
  }

  /** Records (or with null, clears) the user's preference. */
  voteAbRun(id: number, vote: AbVote | null): AbRun {
    const row = this.s.voteAbRun.get(vote, id);
    if (!row) throw new NotFoundError('A/B run', id);
    return toAbRun(row);
  }

  recordEvalRun(r: NewEvalRun): EvalRun {
    return toEvalRun(this.s.recordEvalRun.get(Date.now(), r.kind, r.model, json(r.params), json(r.result))!);
  }

  /** Newest first; all kinds when `kind` is omitted. */
  listEvalRuns(kind?: string): EvalRun[] {
    return this.s.listEvalRuns.all({ kind: kind ?? null }).map(toEvalRun);
  }
}

/** JSON for a JSON column; `undefined` (not representable) becomes null. */
function json(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

function preview(text: string): string {
  const flat = text.replace(/\s+/gu, ' ').trim();
  if (flat.length <= PREVIEW_CHARS) return flat;
  // Do not cut a surrogate pair in half.
  let end = PREVIEW_CHARS;
  const c = flat.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${flat.slice(0, end)}…`;
}

function uniqueNameError(error: unknown, name: string): unknown {
  const code = (error as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' ? new SessionNameTakenError(name) : error;
}

function toModel(r: ModelRow): Model {
  return { id: r.id, name: r.name, dir: r.dir, fingerprint: r.fingerprint, config: JSON.parse(r.config), createdAt: r.created_at };
}

function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    name: r.name,
    modelId: r.model_id,
    policy: r.policy as PolicyName,
    policyParams: JSON.parse(r.policy_params) as PolicyParams,
    systemPrompt: r.system_prompt,
    totalTokensSeen: r.total_tokens_seen,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    sessionId: r.session_id,
    seq: r.seq,
    role: r.role as Message['role'],
    text: r.text,
    tokenCount: r.token_count,
    state: r.state as MessageState,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toSnapshotInfo(r: SnapshotRow): SnapshotInfo {
  return { id: r.id, sessionId: r.session_id, messageId: r.message_id, createdAt: r.created_at, size: r.size };
}

function toAbRun(r: AbRunRow): AbRun {
  return {
    id: r.id,
    sessionId: r.session_id,
    createdAt: r.created_at,
    prompt: r.prompt,
    branchA: JSON.parse(r.branch_a),
    branchB: JSON.parse(r.branch_b),
    metrics: JSON.parse(r.metrics),
    vote: r.vote as AbVote | null,
  };
}

function toEvalRun(r: EvalRunRow): EvalRun {
  return { id: r.id, createdAt: r.created_at, kind: r.kind, model: r.model, params: JSON.parse(r.params), result: JSON.parse(r.result) };
}
