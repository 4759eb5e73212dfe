import Database from 'better-sqlite3';
import { sqliteBinding } from './native-binding.js';
import type { MessageState, Role } from './types.js';

export interface SalvagedMessage {
  id: number;
  sessionId: number;
  sessionName: string;
  seq: number;
  /** the message it follows (its branch); null for the first, and in databases from before branches */
  parentId: number | null;
  role: Role;
  state: MessageState;
  text: string;
  createdAt: number;
}

/** What can be read of a session's own row: its name, system prompt, generation settings and the message it shows. */
export interface SalvagedSession {
  id: number;
  name: string;
  systemPrompt: string;
  /** as stored (JSON text); '{}' in databases from before per-chat settings */
  generation: string;
  /** the head of the branch it shows; null when not recorded (before branches) or never set */
  headId: number | null;
}

export interface Salvage {
  messages: SalvagedMessage[];
  /** the sessions whose row could be read, by id */
  sessions: Map<number, SalvagedSession>;
  /** message rows that are known to exist (an index or scan listed them) but could not be read */
  unreadable: number;
}

/** Ids past the highest one seen are not probed one by one beyond this many. */
const MAX_PROBED_IDS = 2_000_000;

/**
 * Every message SQLite can still read from a chat database, damaged or not, through a read-only connection
 * (the file is never written). A damaged page stops a scan where it is, so ids are gathered along several
 * paths — a forward and a backward scan of the table, the (session, seq) index, the search index — and the
 * gaps between them are probed by id; each row is then read on its own.
 */
export function salvageMessages(file: string): Salvage {
  const db = new Database(file, { readonly: true, fileMustExist: true, nativeBinding: sqliteBinding() });
  try {
    const ids = new Set<number>();
    for (const sql of [
      'SELECT id FROM messages ORDER BY id',
      'SELECT id FROM messages ORDER BY id DESC',
      'SELECT id FROM messages INDEXED BY sqlite_autoindex_messages_1 ORDER BY session_id, seq',
      'SELECT id FROM messages_fts_docsize',
    ]) {
      collect(db, sql, ids);
    }
    let highest = 0;
    for (const id of ids) if (id > highest) highest = id;
    let byId: Database.Statement<[number], RowShape>;
    try {
      byId = prepareById(db);
    } catch {
      return { messages: [], sessions: new Map(), unreadable: ids.size }; // not even the schema can be read
    }
    const sessions = salvageSessions(db);
    const names = new Map([...sessions].map(([id, session]) => [id, session.name]));
    const messages: SalvagedMessage[] = [];
    let unreadable = 0;
    for (let id = 1; id <= Math.min(highest, MAX_PROBED_IDS) || ids.has(id); id++) {
      try {
        const row = byId.get(id);
        if (row) messages.push(toMessage(row, names));
        else if (ids.has(id)) unreadable++;
      } catch {
        if (ids.has(id)) unreadable++;
      }
    }
    messages.sort((a, b) => a.sessionId - b.sessionId || a.seq - b.seq);
    return { messages, sessions, unreadable };
  } finally {
    db.close();
  }
}

/** Reads one message by id; a database from before branches (schema 3 or older) has no parent column. */
function prepareById(db: Database.Database): Database.Statement<[number], RowShape> {
  const columns = 'id, session_id, seq, role, state, text, created_at';
  try {
    return db.prepare<[number], RowShape>(`SELECT ${columns}, parent_id FROM messages WHERE id = ?`);
  } catch {
    return db.prepare<[number], RowShape>(`SELECT ${columns}, NULL AS parent_id FROM messages WHERE id = ?`);
  }
}

interface RowShape {
  id: number;
  session_id: number;
  seq: number;
  parent_id: number | null;
  role: Role;
  state: MessageState;
  text: string;
  created_at: number;
}

function toMessage(r: RowShape, names: Map<number, string>): SalvagedMessage {
  const sessionName = names.get(r.session_id) ?? `session ${r.session_id}`;
  return { id: r.id, sessionId: r.session_id, sessionName, seq: r.seq, parentId: r.parent_id, role: r.role, state: r.state, text: r.text, createdAt: r.created_at };
}

/** Rows a statement yields before it meets damage (or all of them). */
function collect(db: Database.Database, sql: string, into: Set<number>): void {
  try {
    for (const id of db.prepare(sql).pluck().iterate()) if (typeof id === 'number') into.add(id);
  } catch {
    // damage: keep what was read before it
  }
}

/** The sessions' rows, as many as can be read; older schemas lack the later columns. */
function salvageSessions(db: Database.Database): Map<number, SalvagedSession> {
  const sessions = new Map<number, SalvagedSession>();
  const shapes = [
    'system_prompt, generation, head_message_id', // schema 4 and later
    "system_prompt, generation, NULL AS head_message_id",
    "system_prompt, '{}' AS generation, NULL AS head_message_id",
  ];
  for (const columns of shapes) {
    let read = false;
    for (const order of ['ASC', 'DESC']) {
      try {
        const rows = db.prepare<[], { id: number; name: string; system_prompt: string; generation: string; head_message_id: number | null }>(
          `SELECT id, name, ${columns} FROM sessions ORDER BY id ${order}`,
        );
        read = true;
        for (const r of rows.iterate()) {
          sessions.set(r.id, { id: r.id, name: r.name, systemPrompt: r.system_prompt, generation: r.generation, headId: r.head_message_id });
        }
      } catch {
        // damage (keep what was read before it) or a column this schema lacks (try the next shape)
      }
    }
    if (read) break;
  }
  return sessions;
}
