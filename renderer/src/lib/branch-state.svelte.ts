import type { Channel, ChatPacket, PerpetuaBridge, SearchHit, Session } from './api.js';

export interface BranchHost {
  readonly api: PerpetuaBridge;
  readonly current: Session | null;
  readonly busy: boolean;
  /** Streams an answer on its channel as a send does; resolves true once the core started it. */
  answer(sessionId: string, open: (receive: (p: ChatPacket) => void) => Channel<ChatPacket>): Promise<boolean>;
  /** The session's transcript changed branch: load it again. */
  reload(sessionId: string): Promise<boolean>;
  toast(kind: 'info' | 'error', text: string): void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
}

/**
 * Versions and branches of the open chat: the user message being edited in place, editing one (a new version,
 * answered), regenerating any answer, and showing another version (‹ 1/3 ›) or the branch a search hit lies on.
 */
export class BranchState {
  /** The user message whose inline editor is open. */
  editingId = $state<string | null>(null);
  /** A branch switch is in flight (the cache is rebuilt for it). */
  switching = $state(false);

  constructor(private readonly host: BranchHost) {}

  startEdit(messageId: string): void {
    if (!this.host.busy) this.editingId = messageId;
  }

  cancelEdit(): void {
    this.editingId = null;
  }

  /** Sends a new version of a user message; the editor closes once the core stored it. */
  async edit(messageId: string, text: string): Promise<boolean> {
    const session = this.host.current;
    if (!session || this.host.busy || !text.trim()) return false;
    const started = await this.host.answer(session.id, (receive) => this.host.api.chatEdit({ sessionId: session.id, messageId, text }, receive));
    if (started && this.editingId === messageId) this.editingId = null;
    return started;
  }

  /** A new version of an answer (default: the last one). */
  async regenerate(messageId?: string): Promise<void> {
    const session = this.host.current;
    if (!session || this.host.busy) return;
    await this.host.answer(session.id, (receive) => this.host.api.chatRegenerate({ sessionId: session.id, ...(messageId ? { messageId } : {}) }, receive));
  }

  /** Shows version `version` (0-based) of a message, with the newest messages under it. */
  showVersion(messageId: string, version: number): Promise<boolean> {
    return this.switchTo(messageId, version);
  }

  /** Makes the branch shown pass through a search hit; false when it did already (or the switch failed). */
  showHit(hit: SearchHit): Promise<boolean> {
    return hit.messageId === null ? Promise.resolve(false) : this.switchTo(hit.messageId);
  }

  private async switchTo(messageId: string, version?: number): Promise<boolean> {
    const session = this.host.current;
    if (!session || this.host.busy || this.switching) return false;
    this.switching = true;
    this.editingId = null;
    try {
      const r = await this.host.api.chatSwitchBranch({ sessionId: session.id, messageId, ...(version === undefined ? {} : { version }) });
      if (!r.switched) return false;
      await this.host.reload(session.id);
      if (r.statement) this.host.toast('info', r.statement);
      return true;
    } catch (err) {
      this.host.toast('error', this.host.error(err));
      return false;
    } finally {
      this.switching = false;
    }
  }
}
