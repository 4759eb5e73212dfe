/**
 * Where an A/B run forks from its chat: the last message of the transcript it answers after. Stored with the run, it
 * tells whether the chat is still there (then it can continue from either answer, even after a restart) or has moved on.
 */
import type { Store } from '../store/store.js';
import type { AbRun, AbRunBase } from '../store/types.js';

/** The chat's transcript end now (null ids: the chat is empty). */
export function abBaseOf(store: Store, sessionId: number): AbRunBase {
  const last = store.listMessagesBefore(sessionId, Number.MAX_SAFE_INTEGER, 1)[0];
  return { messageId: last?.id ?? null, messageCreatedAt: last?.createdAt ?? null };
}

/** The run's chat still ends where the run forked from it (false for runs stored without a base, or of no chat). */
export function chatIsAtBase(store: Store, run: AbRun): boolean {
  if (run.sessionId === null || !run.base) return false;
  const now = abBaseOf(store, run.sessionId);
  return now.messageId === run.base.messageId && now.messageCreatedAt === run.base.messageCreatedAt;
}
