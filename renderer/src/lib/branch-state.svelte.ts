import type { Channel, ChatPacket, PerpetuaBridge, SearchHit, Session } from './api.js';

export interface BranchHost {
  readonly api: PerpetuaBridge;
  readonly current: Session | null;
  readonly busy: boolean;
  /** Streams an answer on its channel as a send does; resolves true once the core started it. */
  answer(sessionId: string, open: (receive: (p: ChatPacket) => void) => Channel<ChatPacket>): Promise<boolean>;
  /** The session's transcript changed branch: load it again. */
  reload(sessionId: string): Promise<boolean>;
  toast(kind: 'info' | 'error', text: string, action?: { label: string; run: () => void }, ms?: number): void;
  /** a sentence of the interface language (i18n) */
  t(key: string, vars?: Record<string, unknown>): string;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
}

/** How long a deleted message can be put back with the toast's Undo. */
export const UNDO_MESSAGE_MS = 8000;

/**
 * Versions and branches of the open chat: the user message being edited in place, editing one (a new version,
 * answered), regenerating any answer, showing another version (‹ 1/3 ›) or the branch a search hit lies on, and
 * deleting one message (with Undo).
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

  /**
   * Deletes one message: only it, or a version with the replies under it (main/store/message-removal.ts). The core
   * re-reads the chat's cache from the transcript, so the model no longer sees it; the toast's Undo puts it back.
   */
  async deleteMessage(messageId: string): Promise<boolean> {
    const session = this.host.current;
    if (!session || this.host.busy || this.switching) return false;
    this.switching = true;
    this.editingId = null;
    try {
      const { undoId } = await this.host.api.messagesDelete({ sessionId: session.id, messageId });
      await this.host.reload(session.id);
      const undo = { label: this.host.t('sidebar.undo'), run: () => void this.undoDelete(session.id, undoId) };
      this.host.toast('info', this.host.t('message.deleted'), undo, UNDO_MESSAGE_MS);
      return true;
    } catch (err) {
      this.host.toast('error', this.host.error(err));
      return false;
    } finally {
      this.switching = false;
    }
  }

  /** Puts a deleted message back; refused once the chat has moved on (the toast says so). */
  private async undoDelete(sessionId: string, undoId: string): Promise<void> {
    this.switching = true;
    try {
      await this.host.api.messagesRestore({ sessionId, undoId });
      if (this.host.current?.id === sessionId) await this.host.reload(sessionId);
    } catch (err) {
      this.host.toast('error', this.host.error(err));
    } finally {
      this.switching = false;
    }
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
