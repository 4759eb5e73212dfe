import { NotFoundError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/typed-statements.js';
import { freeSessionName } from './free-name.js';
import type { Message, Session } from '../store/types.js';

const PAGE = 500;

/**
 * A copy of a chat as it is shown: its settings (model, policy, system prompt, generation) and the messages of the
 * branch it shows, under a free name ("Name (copy)", "Name (copy 2)", …). Other branches, A/B runs and snapshots stay
 * with the original: the copy reads its transcript into a cache the first time it runs. An answer being written is
 * left out.
 */
export function duplicateSession(store: Store, sessionId: number): Session {
  const source = store.getSession(sessionId);
  if (!source) throw new NotFoundError('session', sessionId);
  const messages = shownBranch(store, sessionId).filter((m) => m.state !== 'streaming');
  return inTransaction(store.db, () => {
    const copy = store.createSession({
      name: freeSessionName(store, source.name, (n) => (n === 1 ? ' (copy)' : ` (copy ${n})`)),
      modelId: source.modelId,
      policy: source.policy,
      policyParams: source.policyParams,
      systemPrompt: source.systemPrompt,
    });
    if (Object.keys(source.generation).length) store.updateSessionGeneration(copy.id, source.generation);
    for (const m of messages) {
      const added = store.appendMessage(copy.id, { role: m.role, text: m.text, tokenCount: m.tokenCount, state: m.state });
      if (m.stats) store.setMessageStats(added.id, m.stats);
    }
    return store.getSession(copy.id)!;
  });
}

/** The messages of the branch a chat shows, oldest first. */
function shownBranch(store: Store, sessionId: number): Message[] {
  const pages: Message[][] = [];
  for (let before = Number.MAX_SAFE_INTEGER; ; ) {
    const page = store.listMessagesBefore(sessionId, before, PAGE);
    pages.unshift(page);
    if (page.length < PAGE) break;
    before = page[0]!.seq;
  }
  return pages.flat();
}
