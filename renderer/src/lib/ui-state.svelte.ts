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

  constructor(width: number) {
    // A narrow window starts with the chat list folded away, so the conversation keeps its width.
    this.sidebarOpen = width > 900;
  }

  focusSearch(): void {
    this.sidebarOpen = true;
    this.searchFocusTick++;
  }
}
