import type { Session } from './api.js';

/** The chat list as shown: pinned chats first, each group in the order it has (most recently used first). */
export function pinnedFirst(sessions: readonly Session[]): Session[] {
  return [...sessions.filter((s) => s.pinned), ...sessions.filter((s) => !s.pinned)];
}
