import type { ChatSettings, GenerationSettings, PerpetuaBridge, SystemPromptSetResult } from './api.js';

export interface ChatSettingsDeps {
  api: PerpetuaBridge;
  /** a new system prompt was applied: the session and its stats changed */
  onSystemPrompt: (result: SystemPromptSetResult) => void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
}

/**
 * The open chat's generation settings and system prompt, as the settings panel edits them. Saving goes to the
 * core, which checks every bound; its sentence is shown beside the form rather than lost in a toast.
 */
export class ChatSettingsState {
  /** the chat's settings and the model's defaults, for the chat `sessionId` */
  settings = $state.raw<ChatSettings | null>(null);
  sessionId = $state<string | null>(null);
  /** why the last save or apply was refused (a sentence) */
  error = $state<string | null>(null);
  saving = $state(false);
  /** the chat whose new system prompt is being applied: its cache is rebuilt, so nothing is sent to it meanwhile */
  applyingFor = $state<string | null>(null);
  /** what the last applied system prompt did to the cache */
  statement = $state<string | null>(null);

  constructor(private readonly deps: ChatSettingsDeps) {}

  async load(sessionId: string): Promise<void> {
    if (this.sessionId !== sessionId) this.statement = null;
    this.sessionId = sessionId;
    this.error = null;
    try {
      const settings = await this.deps.api.sessionsSettings({ id: sessionId });
      if (this.sessionId === sessionId) this.settings = settings;
    } catch (err) {
      if (this.sessionId === sessionId) this.error = this.deps.error(err);
    }
  }

  /** Stores the chat's settings as a whole ({}: the model's defaults); true when the core took them. */
  async saveGeneration(sessionId: string, generation: GenerationSettings): Promise<boolean> {
    this.saving = true;
    this.error = null;
    try {
      const settings = await this.deps.api.sessionsSetGeneration({ id: sessionId, generation });
      if (this.sessionId === sessionId) this.settings = settings;
      return true;
    } catch (err) {
      this.error = this.deps.error(err);
      return false;
    } finally {
      this.saving = false;
    }
  }

  async setSystemPrompt(sessionId: string, systemPrompt: string): Promise<boolean> {
    this.applyingFor = sessionId;
    this.error = null;
    this.statement = null;
    try {
      const result = await this.deps.api.sessionsSetSystemPrompt({ id: sessionId, systemPrompt });
      if (this.sessionId === sessionId) {
        this.statement = result.statement;
        if (this.settings) this.settings = { ...this.settings, systemPrompt };
      }
      this.deps.onSystemPrompt(result);
      return true;
    } catch (err) {
      this.error = this.deps.error(err);
      return false;
    } finally {
      this.applyingFor = null;
    }
  }
}
