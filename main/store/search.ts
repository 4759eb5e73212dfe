import { toSearchQuery } from './fts-query.js';
import type { SearchRow } from './rows.js';
import { searchSnippet } from './search-snippet.js';
import type { Statements } from './statements.js';
import type { Role, SearchHit } from './types.js';

/**
 * Finds messages holding every word of `text` as a substring, in any script: "窗口" inside "我们今天讨论滑动窗口",
 * "erman" inside "Germans". Words of 3+ characters go through the trigram index, ranked by bm25 (then newest);
 * when every word is shorter (1–2 characters, common in Chinese) the rows are scanned newest first with LIKE and the
 * scan stops at `limit` hits. The CLI and the app both come here (through core/session-queries.ts).
 */
export function searchMessages(
  s: Pick<Statements, 'searchIndex' | 'searchScan'>,
  text: string,
  options: { sessionId?: number; limit?: number } = {},
): SearchHit[] {
  const q = toSearchQuery(text);
  if (q === null) return [];
  const params = { likes: JSON.stringify(q.likes), sessionId: options.sessionId ?? null, limit: options.limit ?? 50 };
  const rows = q.match !== null ? s.searchIndex.all({ ...params, match: q.match }) : s.searchScan.all(params);
  return rows.map((r) => toHit(r, q.words));
}

function toHit(r: SearchRow, words: readonly string[]): SearchHit {
  return {
    sessionId: r.session_id,
    sessionName: r.session_name,
    messageId: r.message_id,
    seq: r.seq,
    role: r.role as Role,
    snippet: searchSnippet(r.text, words),
    createdAt: r.created_at,
  };
}
