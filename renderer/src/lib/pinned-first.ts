import type { Session } from './api.js';

/** The chat list as shown: pinned chats first, then each group by last use, most recent first (as the core lists them). */
export function pinnedFirst(sessions: readonly Session[]): Session[] {
  return [...sessions].sort((a, b) => Number(b.pinned ?? false) - Number(a.pinned ?? false) || b.updatedAt - a.updatedAt);
}
