import type { Db } from './database.js';
import { prepareTyped } from './typed-statements.js';
import type { AbRunRow, EvalRunRow, MessageRow, ModelRow, SearchRow, SessionRow, SnapshotRow, SummaryRow } from './rows.js';

/** Characters of the last message kept for session lists (twice that is read, to cut at a whole character). */
const PREVIEW_READ_CHARS = 320;

/** A message with its place among its versions (the messages with the same parent). */
export const WITH_SIBLINGS = /* sql */ `m.*,
  (SELECT count(*) FROM messages v WHERE v.parent_id IS m.parent_id AND v.session_id = m.session_id) AS sibling_count,
  (SELECT count(*) FROM messages v WHERE v.parent_id IS m.parent_id AND v.session_id = m.session_id AND v.seq < m.seq) AS sibling_index`;

/** The head of a session's active branch: the message it remembers, else (never set) its last one. */
export const HEAD = /* sql */ `(SELECT coalesce(s.head_message_id,
  (SELECT l.id FROM messages l WHERE l.session_id = s.id ORDER BY l.seq DESC LIMIT 1)) FROM sessions s WHERE s.id = @sessionId)`;

/**
 * The active branch of @sessionId as `path(id, parent, seq, below)`, walked from its head back to the first message
 * (one lookup by id a step). `stopBelow`: the walk stops once that many of its messages lie before @beforeSeq. A parent
 * is always older (smaller seq) and the walk follows only that way, so links a damaged page garbled into a cycle end it.
 */
export function activePath(stopBelow?: string): string {
  return /* sql */ `WITH RECURSIVE path(id, parent, seq, below) AS (
  SELECT m.id, m.parent_id, m.seq, ${stopBelow ? 'm.seq < @beforeSeq' : '0'} FROM messages m WHERE m.id = ${HEAD}
  UNION ALL
  SELECT m.id, m.parent_id, m.seq, ${stopBelow ? 'path.below + (m.seq < @beforeSeq)' : '0'} FROM messages m JOIN path ON m.id = path.parent AND m.seq < path.seq
  ${stopBelow ? `WHERE path.below < ${stopBelow}` : ''}
)`;
}

/** Every statement the Store runs, prepared once per connection; failures come out typed (typed-statements.ts). */
export function prepareStatements(db: Db) {
  const p = <R = unknown>(sql: string) => prepareTyped<unknown[], R>(db, sql);
  // Statements that use a value twice take named parameters (better-sqlite3 has no ?NNN).
  const named = <R = unknown>(sql: string) => prepareTyped<[Record<string, unknown>], R>(db, sql);
return {
    upsertModel: p<ModelRow>(`
      INSERT INTO models (name, dir, fingerprint, config, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name, dir = excluded.dir, config = excluded.config
      RETURNING *`),
    getModel: p<ModelRow>('SELECT * FROM models WHERE id = ?'),
    deleteModel: p('DELETE FROM models WHERE id = ?'),
    listModels: p<ModelRow>('SELECT * FROM models ORDER BY name, id'),

    createSession: p<SessionRow>(`
      INSERT INTO sessions (name, model_id, policy, policy_params, system_prompt, total_tokens_seen, created_at, updated_at, origin)
      VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING *`),
    getSession: p<SessionRow>('SELECT * FROM sessions WHERE id = ?'),
    getSessionByName: p<SessionRow>('SELECT * FROM sessions WHERE name = ?'),
    listSessions: p<SummaryRow>(`
      SELECT s.*,
             (SELECT count(*) FROM messages c WHERE c.session_id = s.id) AS message_count,
             m.id AS last_id, m.role AS last_role, m.state AS last_state,
             substr(m.text, 1, ${PREVIEW_READ_CHARS}) AS last_text, m.created_at AS last_created_at
      FROM sessions s
      LEFT JOIN messages m ON m.id = coalesce(s.head_message_id,
        (SELECT l.id FROM messages l WHERE l.session_id = s.id ORDER BY l.seq DESC LIMIT 1))
      ORDER BY s.pinned DESC, s.updated_at DESC, s.id DESC`),
    updateSessionPolicy: p<SessionRow>(
      'UPDATE sessions SET policy = ?, policy_params = ?, updated_at = ? WHERE id = ? RETURNING *'),
    updateSessionGeneration: p<SessionRow>('UPDATE sessions SET generation = ?, updated_at = ? WHERE id = ? RETURNING *'),
    updateSessionSystemPrompt: p<SessionRow>('UPDATE sessions SET system_prompt = ?, updated_at = ? WHERE id = ? RETURNING *'),
    setSessionPinned: p<SessionRow>('UPDATE sessions SET pinned = ? WHERE id = ? RETURNING *'),
    renameSession: p<SessionRow>('UPDATE sessions SET name = ?, updated_at = ? WHERE id = ? RETURNING *'),
    updateSessionModel: p<SessionRow>('UPDATE sessions SET model_id = ?, updated_at = ? WHERE id = ? RETURNING *'),
    deleteSession: p('DELETE FROM sessions WHERE id = ?'),
    addTokensSeen: p<SessionRow>(
      'UPDATE sessions SET total_tokens_seen = total_tokens_seen + ?, updated_at = ? WHERE id = ? RETURNING *'),
    touchSession: p('UPDATE sessions SET updated_at = ? WHERE id = ?'),
    latestSessionUpdate: p<{ latest: number }>('SELECT coalesce(max(updated_at), 0) AS latest FROM sessions'),

    appendMessage: named<MessageRow>(`
      INSERT INTO messages (session_id, seq, role, text, token_count, state, created_at, updated_at, parent_id)
      VALUES (@sessionId, (SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session_id = @sessionId),
              @role, @text, @tokenCount, @state, @createdAt, @now, CASE WHEN @atHead THEN ${HEAD} ELSE @parentId END)
      RETURNING *`),
    setHead: p('UPDATE sessions SET head_message_id = ? WHERE id = ?'),
    getMessage: p<MessageRow>(`SELECT ${WITH_SIBLINGS} FROM messages m WHERE m.id = ?`),
    updateMessageText: p<MessageRow>(`
      UPDATE messages SET text = ?, state = ?, token_count = coalesce(?, token_count), updated_at = ?
      WHERE id = ? RETURNING *`),
    // state left out: setting it, even to the same value, rewrites the row's entry in the index of streaming messages
    streamMessageText: p<MessageRow>('UPDATE messages SET text = ?, token_count = ?, updated_at = ? WHERE id = ? RETURNING *'),
    // along a branch seq grows from parent to child, so the path in seq order is the transcript; the versions are
    // counted only for the messages returned
    listMessages: named<MessageRow>(`${activePath()}
      SELECT ${WITH_SIBLINGS} FROM (SELECT m.* FROM messages m JOIN path ON m.id = path.id WHERE m.seq > @afterSeq
                                    ORDER BY m.seq LIMIT @limit) m ORDER BY m.seq`),
    listMessagesBefore: named<MessageRow>(`${activePath('@limit')}
      SELECT ${WITH_SIBLINGS} FROM (SELECT m.* FROM messages m JOIN path ON m.id = path.id WHERE m.seq < @beforeSeq
                                    ORDER BY m.seq DESC LIMIT @limit) m ORDER BY m.seq`),
    setMessageStats: p('UPDATE messages SET stats = ? WHERE id = ?'),
    setMessageState: p('UPDATE messages SET state = ?, updated_at = ? WHERE id = ?'),
    markInterrupted: p(
      "UPDATE messages SET state = 'stopped', updated_at = ? WHERE state = 'streaming' AND session_id NOT IN (SELECT value FROM json_each(?))"),

    // Search (search.ts): through the trigram index when a word has 3+ characters, best match (bm25) first;
    // words of 1-2 characters are LIKE filters on the rows the index found, or on every row, newest first,
    // where no word is long enough for the index. An answer still streaming is found by neither: the index holds a
    // message once it has ended (migration 12), and the scan keeps to the same rows.
    searchIndex: named<SearchRow>(`
      SELECT m.session_id, s.name AS session_name, m.id AS message_id, m.seq, m.role, m.created_at, m.text
      FROM messages_fts
      JOIN messages m ON m.id = messages_fts.rowid
      JOIN sessions s ON s.id = m.session_id
      WHERE messages_fts MATCH @match AND (@sessionId IS NULL OR m.session_id = @sessionId)
        AND NOT EXISTS (SELECT 1 FROM json_each(@likes) j WHERE m.text NOT LIKE j.value ESCAPE '\\')
      ORDER BY rank, m.id DESC
      LIMIT @limit`),
    searchScan: named<SearchRow>(`
      SELECT m.session_id, s.name AS session_name, m.id AS message_id, m.seq, m.role, m.created_at, m.text
      FROM messages m
      JOIN sessions s ON s.id = m.session_id
      WHERE (@sessionId IS NULL OR m.session_id = @sessionId) AND m.state <> 'streaming'
        AND NOT EXISTS (SELECT 1 FROM json_each(@likes) j WHERE m.text NOT LIKE j.value ESCAPE '\\')
      ORDER BY m.id DESC
      LIMIT @limit`),

    insertSnapshot: p<SnapshotRow>(`
      INSERT INTO snapshots (session_id, message_id, created_at, bytes, size) VALUES (?, ?, ?, ?, ?)
      RETURNING id, session_id, message_id, created_at, size`),
    pruneSnapshots: named(`
      DELETE FROM snapshots WHERE session_id = @sessionId AND id NOT IN
        (SELECT id FROM snapshots WHERE session_id = @sessionId ORDER BY id DESC LIMIT @keep)`),
    deleteSnapshots: p('DELETE FROM snapshots WHERE session_id = ?'),
    latestSnapshot: p<SnapshotRow>('SELECT * FROM snapshots WHERE session_id = ? ORDER BY id DESC LIMIT 1'),
    getSnapshot: p<SnapshotRow>('SELECT * FROM snapshots WHERE id = ?'),
    deleteSnapshot: p('DELETE FROM snapshots WHERE id = ?'),
    listSnapshots: p<SnapshotRow>(
      'SELECT id, session_id, message_id, created_at, size FROM snapshots WHERE session_id = ? ORDER BY id DESC'),

    recordAbRun: p<AbRunRow>(`
      INSERT INTO ab_runs (session_id, created_at, prompt, branch_a, branch_b, metrics, vote, base)
      VALUES (?, ?, ?, ?, ?, ?, NULL, ?) RETURNING *`),
    getAbRun: p<AbRunRow>('SELECT * FROM ab_runs WHERE id = ?'),
    listAbRuns: named<AbRunRow>(
      'SELECT * FROM ab_runs WHERE (@sessionId IS NULL OR session_id = @sessionId) ORDER BY id DESC'),
    voteAbRun: p<AbRunRow>('UPDATE ab_runs SET vote = ? WHERE id = ? RETURNING *'),

    recordEvalRun: p<EvalRunRow>(
      'INSERT INTO eval_runs (created_at, kind, model, params, result) VALUES (?, ?, ?, ?, ?) RETURNING *'),
    listEvalRuns: named<EvalRunRow>('SELECT * FROM eval_runs WHERE (@kind IS NULL OR kind = @kind) ORDER BY id DESC'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
