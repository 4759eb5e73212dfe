import type Database from 'better-sqlite3';

/**
 * Schema migrations, in order. Migration i (0-based) takes the database from `user_version` i to
 * i + 1; each runs in its own transaction together with the version bump. Never edit or reorder a
 * shipped migration: append a new one.
 */
export interface Migration {
  readonly name: string;
  /** `progress`: called as a long migration goes (rows done of rows to do), so the caller can show it */
  readonly up: (db: Database.Database, progress?: MigrationProgress) => void;
}

export type MigrationProgress = (done: number, total: number) => void;

/** Written to the SQLite header so we can tell our files from other programs' SQLite files. */
export const APPLICATION_ID = 0x50525054; // "PRPT"

const V1_INITIAL = /* sql */ `
CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL,
  dir         TEXT    NOT NULL,
  fingerprint TEXT    NOT NULL UNIQUE,
  config      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
  created_at  INTEGER NOT NULL
);

-- policy is not CHECK-constrained: SQLite cannot alter a CHECK, and new policies must not need a table rebuild.
CREATE TABLE sessions (
  id                INTEGER PRIMARY KEY,
  name              TEXT    NOT NULL UNIQUE,
  model_id          INTEGER NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
  policy            TEXT    NOT NULL,
  policy_params     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(policy_params)),
  system_prompt     TEXT    NOT NULL DEFAULT '',
  total_tokens_seen INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens_seen >= 0),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX sessions_model ON sessions(model_id);
CREATE INDEX sessions_updated ON sessions(updated_at DESC);

CREATE TABLE messages (
  id          INTEGER PRIMARY KEY,
  session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  role        TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  text        TEXT    NOT NULL,
  token_count INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0),
  state       TEXT    NOT NULL CHECK (state IN ('streaming', 'done', 'stopped', 'error')),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (session_id, seq)
);
-- Finds messages a crash left mid-stream without scanning every transcript.
CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming';

-- message_id: the last message the cached KV covers (NULL: only the system prompt). A snapshot that
-- covers a deleted message is stale, so it goes with it.
CREATE TABLE snapshots (
  id         INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  bytes      BLOB    NOT NULL,
  size       INTEGER NOT NULL
);
CREATE INDEX snapshots_session ON snapshots(session_id, id);
CREATE INDEX snapshots_message ON snapshots(message_id);

-- A/B and eval results are research records: they outlive the session they came from.
CREATE TABLE ab_runs (
  id         INTEGER PRIMARY KEY,
  session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  prompt     TEXT    NOT NULL,
  branch_a   TEXT    NOT NULL CHECK (json_valid(branch_a)),
  branch_b   TEXT    NOT NULL CHECK (json_valid(branch_b)),
  metrics    TEXT    NOT NULL CHECK (json_valid(metrics)),
  vote       TEXT    CHECK (vote IN ('a', 'b', 'tie'))
);
CREATE INDEX ab_runs_session ON ab_runs(session_id);

CREATE TABLE eval_runs (
  id         INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  kind       TEXT    NOT NULL,
  model      TEXT    NOT NULL,
  params     TEXT    NOT NULL CHECK (json_valid(params)),
  result     TEXT    NOT NULL CHECK (json_valid(result))
);
CREATE INDEX eval_runs_kind ON eval_runs(kind, created_at);

-- Full-text index over every transcript. External content (the text lives once, in messages);
-- triggers keep it in sync. FK cascades fire the delete trigger too.
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- Only text changes touch the index: state/token-count updates stay cheap.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;

PRAGMA application_id = ${APPLICATION_ID};
`;

// One writer per session across processes (session-locks.ts): who holds each open session.
const V2_SESSION_LOCKS = /* sql */ `
CREATE TABLE session_locks (
  session_id    INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
  pid           INTEGER NOT NULL,
  host          TEXT    NOT NULL,
  process_start TEXT    NOT NULL,
  holder        TEXT    NOT NULL,
  acquired_at   INTEGER NOT NULL
);
`;

// Per-chat generation settings (temperature, top-p, … stop strings) as a JSON record, '{}' meaning the model's
// defaults; and per-answer speed (time to first token, tokens per second), NULL until an answer has them.
const V3_GENERATION_SETTINGS = /* sql */ `
ALTER TABLE sessions ADD COLUMN generation TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(generation));
ALTER TABLE messages ADD COLUMN stats TEXT CHECK (stats IS NULL OR json_valid(stats));
`;

// Branches: each message hangs under the one it follows (a tree), and the session remembers the leaf of the branch
// it shows. The transcript is the path from the root to that head; `seq` stays insertion order. Old chats become one
// branch: each message's parent is the one before it, the head their last message. The parent index serves the
// cascade (a message's replies go with it) and the sibling lookups.
const V4_BRANCHES = /* sql */ `
ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
UPDATE messages SET parent_id =
  (SELECT p.id FROM messages p WHERE p.session_id = messages.session_id AND p.seq < messages.seq ORDER BY p.seq DESC LIMIT 1);
CREATE INDEX messages_parent ON messages(parent_id, session_id, seq);
ALTER TABLE sessions ADD COLUMN head_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL;
UPDATE sessions SET head_message_id =
  (SELECT m.id FROM messages m WHERE m.session_id = sessions.id ORDER BY m.seq DESC LIMIT 1);
`;

// Search inside words and CJK sentences: FTS5's unicode61 tokenizer made a whole run of Han characters one token, so
// 窗口 was not found in 我们今天讨论滑动窗口, nor "erman" in "Germans". The trigram tokenizer indexes every 3 characters
// (case and diacritics folded), so any substring of 3+ characters is an index query; shorter ones are LIKE scans
// (search.ts). Same table and trigger names, so everything that reads the index (salvage.ts) stays as it is.
const V5_TRIGRAM_INDEX = /* sql */ `
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
`;

/** Rows indexed between two progress reports while the search index is built. */
const INDEX_BATCH = 2000;

/** Builds the trigram index over the messages already stored, in batches so that progress can be reported. */
function trigramIndex(db: Database.Database, progress?: MigrationProgress): void {
  db.exec(V5_TRIGRAM_INDEX);
  indexStoredMessages(db, 'messages', progress);
}

/** Indexes the rows of `source` (messages, or the view of those the index holds) in batches, reporting progress. */
function indexStoredMessages(db: Database.Database, source: string, progress?: MigrationProgress): void {
  const total = db.prepare(`SELECT count(*) FROM ${source}`).pluck().get() as number;
  if (total === 0) return; // a new or empty database: nothing to index, nothing to report
  const batchEnd = db.prepare<[number, number], number | null>(
    `SELECT max(id) FROM (SELECT id FROM ${source} WHERE id > ? ORDER BY id LIMIT ?)`).pluck();
  const index = db.prepare<[number, number]>(`INSERT INTO messages_fts(rowid, text) SELECT id, text FROM ${source} WHERE id > ? AND id <= ?`);
  let done = 0;
  progress?.(0, total);
  for (let after = 0; ; ) {
    const end = batchEnd.get(after, INDEX_BATCH);
    if (end === null || end === undefined) break;
    done += index.run(after, end).changes;
    after = end;
    progress?.(Math.min(done, total), total);
  }
}

// Where a chat came from: the app (and the CLI), or the OpenAI-compatible server (`perpetua serve`), whose chats are
// matched to requests by their transcript and shown in the app with a mark.
const V6_SESSION_ORIGIN = /* sql */ `
ALTER TABLE sessions ADD COLUMN origin TEXT NOT NULL DEFAULT 'app' CHECK (origin IN ('app', 'api'));
`;

// Chunked KV snapshots: a snapshot row may hold a manifest (format version 2) whose KV lives in chunks, each written
// once and shared by the session's manifests that name it (refs). A chunk goes when the last manifest naming it goes
// (pruned, refused, its message deleted): the trigger, which FK cascades fire too.
const V7_SNAPSHOT_CHUNKS = /* sql */ `
CREATE TABLE snapshot_chunks (
  id         INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  hash       TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  bytes      BLOB    NOT NULL,
  size       INTEGER NOT NULL,
  UNIQUE (session_id, hash)
);
CREATE TABLE snapshot_chunk_refs (
  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
  chunk_id    INTEGER NOT NULL REFERENCES snapshot_chunks(id) ON DELETE CASCADE,
  PRIMARY KEY (snapshot_id, chunk_id)
) WITHOUT ROWID;
CREATE INDEX snapshot_chunk_refs_chunk ON snapshot_chunk_refs(chunk_id);
CREATE TRIGGER snapshot_chunks_unused AFTER DELETE ON snapshot_chunk_refs
WHEN NOT EXISTS (SELECT 1 FROM snapshot_chunk_refs WHERE chunk_id = old.chunk_id)
BEGIN
  DELETE FROM snapshot_chunks WHERE id = old.chunk_id;
END;
`;

// Session lock leases (session-locks.ts): the holder renews `renewed_at` while it runs, so a lock whose holder is gone
// goes stale after the lease whatever the host is called now; `boot_id` tells a lock from before a reboot on this machine.
const V8_LOCK_LEASE = /* sql */ `
ALTER TABLE session_locks ADD COLUMN renewed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE session_locks ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
`;

// What the app's engine is doing to a chat right now (opening it, writing an answer): a row while the work runs, gone
// when it ends (chat-work.ts). A row left when an engine starts means the last one froze or died in that work, so the
// app does not reopen that chat by itself.
const V9_CHAT_WORK = /* sql */ `
CREATE TABLE chat_work (
  session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
  what       TEXT    NOT NULL,
  started_at INTEGER NOT NULL
);
`;

// App-wide settings (defaults for new chats, the snapshot disk budget, the interface language) as key → JSON value, each
// checked by the core when read; named presets of a system prompt and generation settings; and pinned chats, listed
// first. Pinning does not touch updated_at: it is no use of the chat (the snapshot budget drops the least used first).
const V10_SETTINGS_PRESETS_PINS = /* sql */ `
CREATE TABLE app_settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL CHECK (json_valid(value))
) WITHOUT ROWID;
CREATE TABLE presets (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE,
  system_prompt TEXT    NOT NULL DEFAULT '',
  generation    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(generation)),
  created_at    INTEGER NOT NULL
);
ALTER TABLE sessions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
`;

// Where an A/B run forked from its chat (JSON: the last message of the transcript it answered after, null at the start,
// and that message's time, since a deleted message's id can come back): after a restart the chat can still continue
// from one of its answers while it has not moved on. NULL for runs stored before, and for runs of no chat.
const V11_AB_RUN_BASE = /* sql */ `
ALTER TABLE ab_runs ADD COLUMN base TEXT CHECK (base IS NULL OR json_valid(base));
`;

// The search index holds an answer once, when it ends: re-indexing the whole text so far at each of a streaming
// answer's commits made most of what a long answer wrote (FTS5 pages: ~85 % of its WAL frames). Rows in state
// 'streaming' stay out of the index, and join it when they turn done/stopped/error — the crash recovery (marking them
// stopped) included. The index's content is the view of the rows it holds, so that FTS5's integrity-check compares the
// two exactly. Changing a table's content option means building it again; a streaming row present now (a live writer
// in another process, or a crash not yet recovered) is left out, and indexed when it ends.
const V12_SEARCH_FINAL_MESSAGES = /* sql */ `
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
CREATE VIEW messages_searchable AS SELECT id, text FROM messages WHERE state <> 'streaming';
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text,
  content = 'messages_searchable',
  content_rowid = 'id',
  tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.state <> 'streaming' BEGIN
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.state <> 'streaming' BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- Fires when an indexed row's text changes, or a row enters or leaves the index (its state to or from 'streaming');
-- never for a streaming answer's own commits, nor for a state change between final states.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, state ON messages
WHEN (old.state <> 'streaming' OR new.state <> 'streaming')
 AND (old.text IS NOT new.text OR (old.state = 'streaming') <> (new.state = 'streaming'))
BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.state <> 'streaming';
  INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.state <> 'streaming';
END;
`;

function searchFinalMessages(db: Database.Database, progress?: MigrationProgress): void {
  db.exec(V12_SEARCH_FINAL_MESSAGES);
  indexStoredMessages(db, 'messages_searchable', progress);
}

export const MIGRATIONS: readonly Migration[] = [
  { name: 'initial schema', up: (db) => void db.exec(V1_INITIAL) },
  { name: 'session locks', up: (db) => void db.exec(V2_SESSION_LOCKS) },
  { name: 'generation settings', up: (db) => void db.exec(V3_GENERATION_SETTINGS) },
  { name: 'branches', up: (db) => void db.exec(V4_BRANCHES) },
  { name: 'search inside words (trigram index)', up: trigramIndex },
  { name: 'session origin', up: (db) => void db.exec(V6_SESSION_ORIGIN) },
  { name: 'snapshot chunks', up: (db) => void db.exec(V7_SNAPSHOT_CHUNKS) },
  { name: 'session lock leases', up: (db) => void db.exec(V8_LOCK_LEASE) },
  { name: 'chat work in progress', up: (db) => void db.exec(V9_CHAT_WORK) },
  { name: 'app settings, presets, pinned chats', up: (db) => void db.exec(V10_SETTINGS_PRESETS_PINS) },
  { name: 'A/B run base', up: (db) => void db.exec(V11_AB_RUN_BASE) },
  { name: 'search index of final messages', up: searchFinalMessages },
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;
