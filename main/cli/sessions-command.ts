import { resolve } from 'node:path';
import { searchSessions } from '../core/session-queries.js';
import { openDatabase } from '../store/database.js';
import { SessionLocks } from '../store/session-locks.js';
import { Store } from '../store/store.js';
import { migrationProgressOnStderr } from './migration-progress.js';
import { SNIPPET_MARK_END, SNIPPET_MARK_START } from '../store/types.js';
import { parse } from './options.js';
import { terminalSafe } from './terminal-text.js';
import { UsageError } from './usage-error.js';

export const SESSIONS_HELP = `perpetua sessions --db FILE [--search TEXT | --take-over NAME]
  Lists the sessions in a chat database, or searches every transcript.
  --take-over NAME frees the session NAME from a Perpetua process that left it open (it crashed, or ran on another
  machine): the answer it was writing is marked cut off. Refused while that process still runs on this computer.`;

export async function sessionsCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { db: { type: 'string' }, search: { type: 'string' }, 'take-over': { type: 'string' } });
  if (!values.db) throw new UsageError('sessions needs --db FILE.');
  if (values['take-over'] !== undefined) return takeOver(resolve(values.db), values['take-over']);
  const db = openDatabase(resolve(values.db), { readOnly: true });
  try {
    const store = new Store(db);
    if (values.search !== undefined) {
      // the app's search, word for word: same query, same order, same highlights (in [brackets] here)
      const hits = searchSessions(store, values.search);
      if (hits.length === 0) console.log(terminalSafe(`No message matches "${values.search}".`));
      for (const h of hits) {
        const snippet = h.snippet.replaceAll(SNIPPET_MARK_START, '[').replaceAll(SNIPPET_MARK_END, ']');
        console.log(terminalSafe(h.seq === null ? `${h.sessionName} (name): ${snippet}` : `${h.sessionName} #${h.seq} (${h.role}): ${snippet}`));
      }
      return;
    }
    const sessions = store.listSessions();
    if (sessions.length === 0) console.log('No sessions yet.');
    for (const s of sessions) {
      const p = s.policyParams;
      const policy = s.policy === 'dense' ? 'dense' : `${s.policy}:${s.policy === 'sink' ? p.sink : 0}:${p.window}`;
      console.log(
        `${terminalSafe(s.name)}\t${policy}\t${s.messageCount} messages\t${s.totalTokensSeen} tokens seen\tupdated ${new Date(s.updatedAt).toISOString()}${s.origin === 'api' ? '\tfrom the API' : ''}`,
      );
    }
  } finally {
    db.close();
  }
}

function takeOver(dbFile: string, name: string): void {
  const db = openDatabase(dbFile, { onMigrationProgress: migrationProgressOnStderr() });
  try {
    const store = new Store(db);
    const session = store.getSessionByName(name);
    if (!session) throw new UsageError(`There is no session ${JSON.stringify(name)} in ${dbFile}.`);
    const cutOff = store.listMessages(session.id).filter((m) => m.state === 'streaming').length;
    if (!new SessionLocks(db).takeOver(session.id, session.name)) {
      console.log(terminalSafe(`No other Perpetua process has ${JSON.stringify(session.name)} open; there is nothing to take over.`));
      return;
    }
    const answer = cutOff > 0 ? '; the answer it was writing is marked cut off' : '';
    console.log(terminalSafe(`Took over ${JSON.stringify(session.name)}${answer}. It opens here now.`));
  } finally {
    db.close();
  }
}
