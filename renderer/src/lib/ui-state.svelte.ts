/** Below this width the chat list folds away (ChatHeader's buttons show only their icons there too). */
export const NARROW_WINDOW = '(max-width: 900px)';

/** Window-level UI state (which panels are open), apart from chat, sessions, models and A/B state. */
export class UiState {
  sidebarOpen = $state(true);
  newChatOpen = $state(false);
  modelsOpen = $state(false);
  /** The current chat's cache policy popover. */
  settingsOpen = $state(false);
  /** The current chat's settings (generation, system prompt): Ctrl/Cmd+, opens them. */
  chatSettingsOpen = $state(false);
  /** The app-wide settings (defaults for new chats, language, snapshot budget). */
  appSettingsOpen = $state(false);
  /** Bumped to move keyboard focus to the chat search. */
  searchFocusTick = $state(0);

  /**
   * A narrow window (`narrow` matches) shows the chat list folded away, so the conversation keeps its width: at start,
   * and whenever the window is made narrow; made wide again, the list comes back. Ctrl+B in between stands until then.
   */
  constructor(narrow: MediaQueryList) {
    this.sidebarOpen = !narrow.matches;
    narrow.addEventListener('change', (e) => (this.sidebarOpen = !e.matches));
  }

  focusSearch(): void {
    this.sidebarOpen = true;
    this.searchFocusTick++;
  }
}
