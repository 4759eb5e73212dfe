/** Read-only views of stored sessions: pages of messages, search over names and transcripts, Markdown export. */
import type { MessagesPageResult, SearchHit } from '../api/schemas.js';
import { describePolicy } from '../policy/policy-text.js';
import { PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import { SNIPPET_MARK_END, SNIPPET_MARK_START } from '../store/types.js';
import { toApiMessage } from './api-mappers.js';
import { sessionPolicy } from './persistent-chat.js';

/** The `limit` messages before `beforeSeq`, oldest first, and whether older ones exist. */
export function messagePage(store: Store, sessionId: number, beforeSeq: number, limit: number): MessagesPageResult {
  const messages = store.listMessagesBefore(sessionId, beforeSeq, limit + 1);
  const hasMore = messages.length > limit;
  return { messages: (hasMore ? messages.slice(1) : messages).map(toApiMessage), hasMore };
}

export function messageCount(store: Store, sessionId: number): number {
  return store.listSessions().find((s) => s.id === sessionId)?.messageCount ?? 0;
}

/** Sessions whose name holds the text, then messages that match it (full-text search). */
export function searchSessions(store: Store, text: string, limit = 50): SearchHit[] {
  const q = text.trim().toLowerCase();
  const byName: SearchHit[] = q
    ? store
        .listSessions()
        .filter((s) => s.name.toLowerCase().includes(q))
        .map((s) => ({ sessionId: String(s.id), sessionName: s.name, messageId: null, seq: null, role: null, snippet: s.name }))
    : [];
  const inText = store.search(text, { limit }).map((h) => ({
    sessionId: String(h.sessionId),
    sessionName: h.sessionName,
    messageId: String(h.messageId),
    seq: h.seq,
    role: h.role,
    snippet: h.snippet.replaceAll(SNIPPET_MARK_START, '').replaceAll(SNIPPET_MARK_END, ''),
  }));
  return [...byName, ...inText].slice(0, limit);
}

export function exportMarkdown(store: Store, sessionId: number): string {
  const session = store.getSession(sessionId);
  if (!session) throw new PerpetuaError('That session does not exist any more.', { code: 'not_found' });
  const lines = [`# ${session.name}`, '', `Cache policy: ${describePolicy(sessionPolicy(session))}.`, ''];
  if (session.systemPrompt) lines.push('## System', '', session.systemPrompt, '');
  for (const m of store.listMessages(session.id)) {
    lines.push(`## ${m.role === 'user' ? 'You' : 'Assistant'}${m.state === 'stopped' ? ' (stopped)' : ''}`, '', m.text, '');
  }
  return lines.join('\n');
}
