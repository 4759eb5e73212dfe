/** Read-only views of stored sessions: pages of messages, search over names and transcripts, Markdown export. */
import type { MessagesPageResult, SearchHit } from '../api/schemas.js';
import { describePolicy } from '../policy/policy-text.js';
import { PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import { matchRanges, searchSnippet } from '../store/search-snippet.js';
import type { Message } from '../store/types.js';
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

/**
 * Sessions whose name holds every word of the text, then messages that hold them (store/search.ts): any substring,
 * any script. Matches in names and snippets are wrapped in SNIPPET_MARK_START/END. The app and
 * `perpetua sessions --search` both answer with this.
 */
export function searchSessions(store: Store, text: string, limit = 50): SearchHit[] {
  const words = text.split(/\s+/u).filter((w) => w.length > 0);
  const byName: SearchHit[] =
    words.length > 0
      ? store
          .listSessions()
          .filter((s) => words.every((w) => matchRanges(s.name, [w]).length > 0))
          .map((s) => ({
            sessionId: String(s.id),
            sessionName: s.name,
            messageId: null,
            seq: null,
            role: null,
            snippet: searchSnippet(s.name, words),
          }))
      : [];
  const shown = new Map<number, Set<number>>();
  const onShownBranch = (sessionId: number, id: number) => {
    if (!shown.has(sessionId)) shown.set(sessionId, new Set(store.branches.pathIds(sessionId)));
    return shown.get(sessionId)!.has(id);
  };
  const inText = store.search(text, { limit }).map((h) => ({
    sessionId: String(h.sessionId),
    sessionName: h.sessionName,
    messageId: String(h.messageId),
    seq: h.seq,
    role: h.role,
    snippet: h.snippet,
    onShownBranch: onShownBranch(h.sessionId, h.messageId),
  }));
  return [...byName, ...inText].slice(0, limit);
}

export function exportMarkdown(store: Store, sessionId: number): string {
  const session = store.getSession(sessionId);
  if (!session) throw new PerpetuaError('That session does not exist any more.', { code: 'not_found' });
  const lines = [`# ${session.name}`, '', `Cache policy: ${describePolicy(sessionPolicy(session))}.`, ''];
  if (session.systemPrompt) lines.push('## System', '', session.systemPrompt, '');
  const shown = store.listMessages(session.id);
  for (const m of shown) lines.push(...messageMarkdown(m, '##'));
  lines.push(...otherBranchesMarkdown(store.branches.tree(session.id), new Set(shown.map((m) => m.id))));
  return lines.join('\n');
}

function messageMarkdown(m: Message, level: string): string[] {
  return [`${level} ${m.role === 'user' ? 'You' : 'Assistant'}${m.state === 'stopped' ? ' (stopped)' : ''}`, '', m.text, ''];
}

/**
 * The branches not shown, after the one shown: each from where it forks (a message numbered by its place in the
 * transcript) to the newest message under it. In the order they were written: a branch's fork point is printed before it.
 */
function otherBranchesMarkdown(tree: Message[], shown: Set<number>): string[] {
  const byId = new Map(tree.map((m) => [m.id, m]));
  const place = new Map<number, number>();
  for (const m of tree) place.set(m.id, m.parentId === null ? 1 : place.get(m.parentId)! + 1);
  // replies are newer than their parent: one pass from the newest finds the newest message under each
  const newest = new Map(tree.map((m) => [m.id, m]));
  for (const m of [...tree].reverse()) {
    if (m.parentId !== null && newest.get(m.id)!.seq > newest.get(m.parentId)!.seq) newest.set(m.parentId, newest.get(m.id)!);
  }
  const done = new Set(shown);
  const lines: string[] = [];
  for (const start of tree) {
    if (done.has(start.id)) continue;
    const branch: Message[] = [];
    for (let m: Message | undefined = newest.get(start.id); m && m.id !== start.parentId; m = byId.get(m.parentId ?? -1)) branch.unshift(m);
    const at = place.get(start.id)!;
    if (done.size === shown.size) lines.push('---', '', '## Other branches', '');
    lines.push(`### Another version of message ${at} (forks ${at === 1 ? 'at the start' : `after message ${at - 1}`})`, '');
    for (const m of branch) {
      done.add(m.id);
      lines.push(...messageMarkdown(m, '####'));
    }
  }
  return lines;
}
