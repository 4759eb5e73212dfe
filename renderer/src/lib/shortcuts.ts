/** The app's keyboard shortcuts: Ctrl (Cmd on macOS) + N new chat, + K search chats, + , chat settings, + B chat list. */
export type Shortcut = 'newChat' | 'search' | 'settings' | 'sidebar';

const KEYS: Record<string, Shortcut> = { n: 'newChat', k: 'search', ',': 'settings', b: 'sidebar' };

export function shortcutOf(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'shiftKey'>): Shortcut | null {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return null;
  return KEYS[e.key.toLowerCase()] ?? null;
}
