import { resolve } from 'node:path';
import { searchSessions } from '../core/session-queries.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { SNIPPET_MARK_END, SNIPPET_MARK_START } from '../store/types.js';
import { parse } from './options.js';
import { terminalSafe } from './terminal-text.js';
import { UsageError } from './usage-error.js';

export const SESSIONS_HELP = `perpetua sessions --db FILE [--search TEXT]
  Lists the sessions in a chat database, or searches every transcript.`;

export async function sessionsCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { db: { type: 'string' }, search: { type: 'string' } });
  if (!values.db) throw new UsageError('sessions needs --db FILE.');
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
