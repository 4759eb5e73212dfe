import type { Channel, ChatPacket, GenerationSettings, Message, MessageStats, ModelInfo, PerpetuaBridge, PolicyConfig, ReadOnlyReason, SearchHit, Session, Stats } from './api.js';
import { abProposal } from './ab-proposal.js';
import { titleOf } from './chat-title.js';
import { AbState, type AbHost } from './ab-state.svelte.js';
import { BranchState } from './branch-state.svelte.js';
import { ChatSettingsState } from './chat-settings-state.svelte.js';
import { AppSettingsState } from './app-settings-state.svelte.js';
import { PolicySwitchState } from './policy-state.svelte.js';
import { progressOf, type Progress } from './progress.js';
import type { I18n } from '../i18n/i18n.svelte.js';
import { frameBatcher } from './frame-batch.js';

export interface Toast {
  id: number;
  kind: 'info' | 'error';
  text: string;
  /** a button on the toast (Undo) */
  action?: { label: string; run: () => void };
}

/** How long a deleted chat can be brought back (it is deleted in the core only then). */
export const UNDO_DELETE_MS = 8000;

export type Theme = 'light' | 'dark';

const PAGE = 200;
const THEME_KEY = 'perpetua.theme';

/** All renderer state and the calls that change it. One instance, created by App and passed down. */
export class AppState {
  sessions = $state.raw<Session[]>([]);
  models = $state.raw<ModelInfo[]>([]);
  current = $state.raw<Session | null>(null);
  /** Why the open chat can be read but not run (its model folder is gone); null: it runs. */
  readOnly = $state.raw<ReadOnlyReason | null>(null);
  /** Moving the open chat to another model or re-locating its folder (the transcript is re-read). */
  relocating = $state(false);
  messages = $state.raw<Message[]>([]);
  hasMore = $state(false);
  loadingOlder = $state(false);
  stats = $state.raw<Stats | null>(null);
  /** Prefill of the message being sent: tokens done of total. */
  prefill = $state.raw<Progress | null>(null);
  /** A send is in flight (before the core accepted it). */
  sending = $state(false);
  streamingId = $state<string | null>(null);
  /** Tokens of the streaming answer's text shown so far: set in the same frame as the text, so the two agree. */
  streamedTokens = $state(0);
  statement = $state<string | null>(null);
  banner = $state<string | null>(null);
  /** The chat the engine froze or died in, not opened again by itself (the user may open it by hand): a sentence. */
  notReopened = $state<{ id: string; text: string } | null>(null);
  /** The core upgrading the database before it starts (a new search index): rows done of total, null when done. */
  migration = $state.raw<{ done: number; total: number } | null>(null);
  toasts = $state.raw<Toast[]>([]);
  searchText = $state('');
  hits = $state.raw<SearchHit[]>([]);
  searching = $state(false);
  /** Message to bring into view (search hit); the chat view clears it. */
  focusMessageId = $state<string | null>(null);
  theme = $state<Theme>('light');
  /** Chats writing an answer now, wherever the user looks (the chat list marks them). */
  answering = $state.raw<ReadonlySet<string>>(new Set());
  /** Bumped when the cursor should go to the message box (a chat was just created). */
  composerFocus = $state(0);
  /** Bumped when the chat view should jump to the newest message (the user sent something). */
  bottomTick = $state(0);
  /** A policy switch (the cache rebuilt from the transcript) in flight: progress and Cancel. */
  readonly policy: PolicySwitchState;
  /** Each chat's own A/B comparison (form, run, view), created when the chat first needs it. */
  private readonly abs = new Map<string, AbState>();
  private readonly abHost: AbHost;
  /** Versions and branches of the open chat: editing, regenerating, ‹ 1/3 ›. */
  readonly branches: BranchState;
  /** The open chat's generation settings and system prompt (the settings panel). */
  readonly chatSettings: ChatSettingsState;
  /** The app-wide settings (defaults for new chats, language, snapshot budget) and the presets. */
  readonly appSettings: AppSettingsState;

  private pendingDeltas = new Map<string, string>();
  /** the streaming answer's token count once the pending deltas are shown (null: unchanged) */
  private pendingTokens: number | null = null;
  /** The answer each session is streaming (its channel), wherever the user looks. */
  private channels = new Map<string, Channel<ChatPacket>>();
  private readonly scheduleFlush = frameBatcher(() => this.flushDeltas());
  /** Chats that still have the name the new-chat dialog proposed: their first message names them. */
  private readonly autoTitles = new Set<string>();
  /** Chats deleted in the list and not yet in the core (Undo brings them back): their timers. */
  private pendingDeletes = new Map<string, ReturnType<typeof setTimeout>>();
  private openToken = 0;
  private searchToken = 0;
  private toastId = 0;

  constructor(
    readonly api: PerpetuaBridge,
    readonly i18n: I18n,
  ) {
    const app = this;
    this.branches = new BranchState({
      api,
      get current() {
        return app.current;
      },
      get busy() {
        return app.busy;
      },
      answer: (sessionId, open) => {
        this.bottomTick++;
        return this.stream(sessionId, open);
      },
      reload: (sessionId) => this.open(sessionId),
      toast: (kind, text, action, ms) => this.toast(kind, text, action, ms),
      t: (key, vars) => i18n.t(key, vars),
      error: (err) => i18n.error(err),
    });
    this.abHost = {
      api,
      toast: (kind, text) => this.toast(kind, text),
      error: (err) => i18n.error(err),
      afterContinue: async (sessionId) => {
        this.touchSession(sessionId);
        if (this.current?.id === sessionId) await this.open(sessionId);
        await this.loadSessions();
      },
    };
    this.policy = new PolicySwitchState({
      api,
      toast: (kind, text) => this.toast(kind, text),
      // a switch to dense that does not fit: the chat stays on its policy, so "switch to sink" would be no advice
      error: (err) => ((err as { code?: string } | null)?.code === 'context_full' ? i18n.t('policy.denseTooLong') : i18n.error(err)),
      switched: (sessionId, policy, stats, statement) => {
        this.sessions = this.sessions.map((s) => (s.id === sessionId ? { ...s, policy } : s));
        if (this.current?.id !== sessionId) return;
        this.current = { ...this.current, policy };
        this.stats = stats;
        this.statement = statement;
      },
      kept: (sessionId, stats) => {
        if (this.current?.id === sessionId) this.stats = stats;
      },
    });
    this.chatSettings = new ChatSettingsState({
      api,
      error: (err) => i18n.error(err),
      onSystemPrompt: (r) => {
        this.sessions = this.sessions.map((s) => (s.id === r.session.id ? r.session : s));
        if (this.current?.id === r.session.id) {
          this.current = r.session;
          this.stats = r.stats;
        }
      },
    });
    this.appSettings = new AppSettingsState({ api, showLocale: (l) => (l ? i18n.setLocale(l) : i18n.followSystem()), error: (err) => i18n.error(err) });
    api.on('coreRestarted', (e) => {
      this.banner = i18n.t('app.coreRestarted', { reason: e.reason });
      this.streamingId = null;
      this.prefill = null;
      this.sending = false;
      void this.refreshAll(e.frozenChatId);
    });
    api.on('migration', (p) => {
      this.migration = p.done < p.total ? { done: p.done, total: p.total } : null;
    });
    api.on('error', (e) => {
      if (e.sessionId && e.sessionId !== this.current?.id) return;
      this.toast('error', e.message);
    });
    this.theme = initialTheme();
    applyTheme(this.theme);
  }

  /** The open chat's A/B comparison: switching chats switches it, and a new chat starts with its own. */
  get ab(): AbState {
    const id = this.current?.id ?? '';
    let ab = this.abs.get(id);
    if (!ab) {
      const chat = this.current;
      const context = this.models.find((m) => m.id === chat?.modelId)?.maxPositions;
      this.abs.set(id, (ab = new AbState(this.abHost, id, chat ? abProposal(chat.policy, context) : undefined)));
    }
    return ab;
  }

  /** What the main column shows for the open chat: the chat, or its A/B comparison of cache policies. */
  get view(): 'chat' | 'ab' {
    return this.ab.shown ? 'ab' : 'chat';
  }

  set view(v: 'chat' | 'ab') {
    this.ab.shown = v === 'ab';
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  async init(): Promise<void> {
    const [, , interrupted] = await Promise.all([this.loadSessions(), this.loadModels(), this.interruptedChats(), this.appSettings.load()]);
    const last = localStorage.getItem('perpetua.lastSession');
    const target = this.sessions.find((s) => s.id === last) ?? this.sessions[0];
    if (target && interrupted.has(target.id)) this.leaveClosed(target.id);
    else if (target) await this.open(target.id);
  }

  /** After the engine restarted: the open chat is opened again, unless the engine froze in it (`frozenChatId`). */
  async refreshAll(frozenChatId?: string): Promise<void> {
    const [, , interrupted] = await Promise.all([this.loadSessions(), this.loadModels(), this.interruptedChats()]);
    if (!this.current) return;
    if (this.current.id === frozenChatId || interrupted.has(this.current.id)) this.leaveClosed(this.current.id);
    else await this.open(this.current.id);
  }

  /** The chats the engine froze or died in (opening them, answering in them): never opened by themselves. */
  private async interruptedChats(): Promise<Set<string>> {
    try {
      return new Set((await this.api.sessionsInterrupted()).map((c) => c.sessionId));
    } catch {
      return new Set(); // an engine that cannot say: the chats open as before
    }
  }

  /** Does not open the chat the engine froze in, and says so, naming the chat and its model. */
  private leaveClosed(id: string): void {
    const session = this.sessions.find((s) => s.id === id);
    if (this.current?.id === id) this.showNothing();
    if (!session) return;
    const model = this.models.find((m) => m.id === session.modelId)?.name;
    const text = model
      ? this.i18n.t('app.notReopened', { chat: session.name, model })
      : this.i18n.t('app.notReopenedNoModel', { chat: session.name });
    this.notReopened = { id, text };
  }

  async loadSessions(): Promise<void> {
    await this.attempt(async () => {
      const all = await this.api.sessionsList();
      this.sessions = all.filter((s) => !this.pendingDeletes.has(s.id));
    });
  }

  async loadModels(): Promise<void> {
    await this.attempt(async () => {
      this.models = await this.api.modelsList();
    });
  }

  // --- sessions ----------------------------------------------------------------------------------

  async open(id: string): Promise<boolean> {
    const token = ++this.openToken;
    try {
      const r = await this.api.sessionsOpen({ id, limit: PAGE });
      if (token !== this.openToken) return false;
      this.show(r);
      if (this.notReopened?.id === id) this.notReopened = null; // opened by hand, and it opened
      return true;
    } catch (err) {
      if (token !== this.openToken) return false;
      // the chat asked for is not shown, so the one before must not stay the target of the next message
      this.showNothing();
      // another process has it open: if that process is gone (a crash, another machine), the user may take it over
      const takeOver = (err as { code?: string } | null)?.code === 'session_locked';
      this.toast('error', this.i18n.error(err), takeOver ? { label: this.i18n.t('app.takeOver'), run: () => void this.takeOver(id) } : undefined);
      return false;
    }
  }

  /** Frees the chat from the process that left it open (refused while that process runs here), then opens it. */
  async takeOver(id: string): Promise<boolean> {
    try {
      await this.api.sessionsTakeOver({ id });
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return false;
    }
    const name = this.sessions.find((s) => s.id === id)?.name ?? '';
    const opened = await this.open(id);
    if (opened) this.toast('info', this.i18n.t('app.tookOver', { name }));
    return opened;
  }

  /** Shows an opened chat: its newest messages, figures, and whether it can run. */
  private show(r: Awaited<ReturnType<PerpetuaBridge['sessionsOpen']>>): void {
    this.pendingDeltas.clear();
    this.pendingTokens = null;
    this.current = r.session;
    this.readOnly = r.readOnly ?? null;
    this.messages = r.messages;
    this.hasMore = r.hasMore;
    this.stats = r.stats;
    this.prefill = null;
    this.statement = null;
    const last = r.messages[r.messages.length - 1];
    this.streamingId = last && last.state === 'streaming' ? last.id : null;
    // an answer still streaming: the core's count of what it has written so far (its next token packets carry it on)
    this.streamedTokens = this.streamingId ? (r.stats?.answer?.tokens ?? 0) : 0;
    localStorage.setItem('perpetua.lastSession', r.session.id);
  }

  private showNothing(): void {
    this.current = null;
    this.readOnly = null;
    this.messages = [];
    this.hasMore = false;
    this.stats = null;
    this.prefill = null;
    this.statement = null;
    this.streamingId = null;
  }

  /** Moves the open chat (read-only or not) to another model: the core fits its window and re-reads its transcript with it. */
  async switchModel(modelId: string): Promise<boolean> {
    const session = this.current;
    if (!session || this.relocating) return false;
    this.relocating = true;
    try {
      const r = await this.api.sessionsSetModel({ id: session.id, modelId });
      this.sessions = this.sessions.map((s) => (s.id === r.session.id ? r.session : s));
      if (this.current?.id === session.id) this.show(r);
      const name = this.models.find((m) => m.id === modelId)?.name ?? '';
      this.toast('info', this.i18n.t('readOnly.switched', { name }));
      return true;
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return false;
    } finally {
      this.relocating = false;
    }
  }

  /** Imports the open chat's model from where its folder is now (the same model points there), then reopens the chat. */
  async locateModel(dir: string): Promise<boolean> {
    const session = this.current;
    if (!session || this.relocating) return false;
    this.relocating = true;
    try {
      await this.api.modelsImport({ dir });
      await this.loadModels();
      if (this.current?.id !== session.id) return true;
      const r = await this.api.sessionsOpen({ id: session.id, limit: PAGE });
      if (this.current?.id === session.id) this.show(r);
      // another model's folder: the chat still misses its own
      if (r.readOnly) this.toast('error', this.i18n.t('readOnly.notThisModel', { name: r.readOnly.modelName }));
      return !r.readOnly;
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return false;
    } finally {
      this.relocating = false;
    }
  }

  /** `autoTitle`: the chat kept the proposed name, so its first message names it. */
  async create({ autoTitle = false, ...p }: { name: string; modelId: string; policy: PolicyConfig; systemPrompt?: string; generation?: GenerationSettings; autoTitle?: boolean }): Promise<boolean> {
    return this.attempt(async () => {
      const s = await this.api.sessionsCreate(p);
      if (autoTitle) this.autoTitles.add(s.id);
      this.sessions = [s, ...this.sessions.filter((x) => x.id !== s.id)];
      if (await this.open(s.id)) this.composerFocus++;
    });
  }

  /** A copy of a chat as shown (settings and the branch it shows), opened. */
  async duplicate(id: string): Promise<boolean> {
    return this.attempt(async () => {
      const s = await this.api.sessionsDuplicate({ id });
      this.sessions = [s, ...this.sessions.filter((x) => x.id !== s.id)];
      await this.open(s.id);
    });
  }

  /** Pins a chat (the list shows it first) or unpins it. */
  async setPinned(id: string, pinned: boolean): Promise<boolean> {
    return this.attempt(async () => {
      const s = await this.api.sessionsSetPinned({ id, pinned });
      this.sessions = this.sessions.map((x) => (x.id === id ? s : x));
      if (this.current?.id === id) this.current = s;
    });
  }

  async rename(id: string, name: string): Promise<boolean> {
    return this.attempt(async () => {
      const s = await this.api.sessionsRename({ id, name });
      this.sessions = this.sessions.map((x) => (x.id === id ? s : x));
      if (this.current?.id === id) this.current = s;
    });
  }

  /**
   * Deletes a chat in one click, with Undo: it leaves the list at once and is deleted in the core when the toast's
   * time is up (or the window goes away); Undo before then puts it back as it was.
   */
  async remove(id: string): Promise<boolean> {
    const session = this.sessions.find((x) => x.id === id);
    if (!session || this.pendingDeletes.has(id)) return false;
    this.sessions = this.sessions.filter((x) => x.id !== id);
    this.pendingDeletes.set(id, setTimeout(() => void this.deleteNow(id), UNDO_DELETE_MS));
    this.toast('info', this.i18n.t('sidebar.deleted', { name: session.name }), { label: this.i18n.t('sidebar.undo'), run: () => void this.undoRemove(session) }, UNDO_DELETE_MS);
    if (this.current?.id === id) {
      this.showNothing();
      const next = this.sessions[0];
      if (next) await this.open(next.id);
    }
    return true;
  }

  /** Puts a chat deleted in the list back (nothing was deleted in the core yet) and opens it. */
  async undoRemove(session: Session): Promise<void> {
    const timer = this.pendingDeletes.get(session.id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.pendingDeletes.delete(session.id);
    this.sessions = [session, ...this.sessions.filter((x) => x.id !== session.id)].sort((a, b) => b.updatedAt - a.updatedAt);
    await this.open(session.id);
  }

  /** Deletes the chats whose Undo time has not run out yet: the window is going away. */
  flushDeletes(): void {
    for (const id of [...this.pendingDeletes.keys()]) void this.deleteNow(id);
  }

  private async deleteNow(id: string): Promise<void> {
    const timer = this.pendingDeletes.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.pendingDeletes.delete(id);
    this.abs.delete(id);
    try {
      await this.api.sessionsDelete({ id });
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      await this.loadSessions(); // it was not deleted: it comes back
    }
  }

  async loadOlder(): Promise<number> {
    if (!this.current || !this.hasMore || this.loadingOlder) return 0;
    const first = this.messages[0];
    if (!first) return 0;
    const sessionId = this.current.id;
    this.loadingOlder = true;
    try {
      const r = await this.api.messagesPage({ sessionId, beforeSeq: first.seq, limit: PAGE });
      if (this.current?.id !== sessionId) return 0;
      this.messages = [...r.messages, ...this.messages];
      this.hasMore = r.hasMore;
      return r.messages.length;
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return 0;
    } finally {
      this.loadingOlder = false;
    }
  }

  async exportMarkdown(): Promise<string | null> {
    if (!this.current) return null;
    try {
      return await this.api.sessionsExportMarkdown({ id: this.current.id });
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return null;
    }
  }

  // --- search ------------------------------------------------------------------------------------

  async search(text: string): Promise<void> {
    this.searchText = text;
    const token = ++this.searchToken;
    if (!text.trim()) {
      this.hits = [];
      this.searching = false;
      return;
    }
    this.searching = true;
    try {
      const hits = await this.api.sessionsSearch({ text, limit: 100 });
      if (token === this.searchToken) this.hits = hits;
    } catch (err) {
      if (token === this.searchToken) this.toast('error', this.i18n.error(err));
    } finally {
      if (token === this.searchToken) this.searching = false;
    }
  }

  async openHit(hit: SearchHit): Promise<void> {
    if (this.current?.id !== hit.sessionId && !(await this.open(hit.sessionId))) return;
    this.view = 'chat'; // the hit is in the transcript, not in an A/B comparison
    if (hit.seq === null || hit.messageId === null) return;
    await this.pageBackTo(hit.seq);
    // not on the branch shown: show the branch it lies on
    if (!this.messages.some((m) => m.id === hit.messageId) && (await this.branches.showHit(hit))) await this.pageBackTo(hit.seq);
    this.focusMessageId = hit.messageId;
  }

  /** Pages back until the message at `seq` (or the first one) is loaded. */
  private async pageBackTo(seq: number): Promise<void> {
    while (this.hasMore && this.messages.length && this.messages[0].seq > seq) {
      if ((await this.loadOlder()) === 0) break;
    }
  }

  // --- chat --------------------------------------------------------------------------------------

  get busy(): boolean {
    return (
      this.sending ||
      this.relocating ||
      this.streamingId !== null ||
      this.ab.running ||
      this.policy.switchingFor(this.current?.id) ||
      this.branches.switching ||
      (this.current !== null && this.chatSettings.applyingFor === this.current.id)
    );
  }

  /** Sends a message; resolves true once the core stored it (the answer streams on), false when it was refused. */
  send(text: string): Promise<boolean> {
    const session = this.current;
    if (!session || this.busy || this.readOnly) return Promise.resolve(false);
    this.statement = null;
    this.bottomTick++;
    const sent = this.stream(session.id, (receive) => this.api.chatSend({ sessionId: session.id, text }, receive));
    if (this.autoTitles.has(session.id)) {
      void sent.then((ok) => {
        const title = titleOf(text);
        if (!ok || !title || !this.autoTitles.delete(session.id)) return;
        void this.rename(session.id, title);
      });
    }
    return sent;
  }

  /** Writes more of the last answer (one cut at its length limit), as a new answer after it. */
  continueAnswer(): Promise<boolean> {
    const session = this.current;
    if (!session || this.busy || this.readOnly) return Promise.resolve(false);
    this.bottomTick++;
    return this.stream(session.id, (receive) => this.api.chatContinue({ sessionId: session.id }, receive));
  }

  async stop(): Promise<void> {
    if (!this.current) return;
    const channel = this.channels.get(this.current.id);
    if (channel) channel.cancel();
    else await this.attempt(() => this.api.chatStop({ sessionId: this.current!.id }));
  }

  /** Opens an answer's channel; resolves once the core started it (true) or refused it (false). */
  private stream(sessionId: string, open: (receive: (p: ChatPacket) => void) => Channel<ChatPacket>): Promise<boolean> {
    this.sending = true;
    return new Promise((accepted) => {
      const channel = open((p) => {
        if (p.type === 'started') {
          this.sending = false;
          accepted(true);
        }
        this.receive(sessionId, p);
      });
      this.channels.set(sessionId, channel);
      this.answering = new Set([...this.answering, sessionId]);
      channel.closed
        .catch((err) => {
          this.toast('error', this.i18n.error(err));
          accepted(false);
        })
        .finally(() => {
          if (this.channels.get(sessionId) === channel) {
            this.channels.delete(sessionId);
            this.answering = new Set([...this.answering].filter((id) => id !== sessionId));
          }
          this.sending = false;
        });
    });
  }

  /** One packet of a session's answer; the order of messages is the core's (`started` carries both). */
  private receive(sessionId: string, p: ChatPacket): void {
    const here = this.current?.id === sessionId;
    if (p.type === 'started') {
      if (here) {
        // an edit or a regenerate replaces a message and what followed it (they stay, on another branch)
        const cut = p.replacedMessageId === null ? -1 : this.messages.findIndex((m) => m.id === p.replacedMessageId);
        const kept = cut < 0 ? this.messages : this.messages.slice(0, cut);
        this.messages = insertBySeq(p.user ? insertBySeq(kept, p.user) : kept, p.assistant);
        this.streamingId = p.assistant.id;
        this.streamedTokens = 0;
        this.pendingTokens = null;
      }
      this.touchSession(sessionId);
    } else if (!here) {
      if (p.type === 'done' || p.type === 'stopped' || p.type === 'failed') this.touchSession(sessionId);
    } else if (p.type === 'progress') {
      this.prefill = progressOf(p);
    } else if (p.type === 'token') {
      if (this.streamingId) {
        this.pendingDeltas.set(this.streamingId, (this.pendingDeltas.get(this.streamingId) ?? '') + p.delta);
        this.pendingTokens = p.tokens ?? (this.pendingTokens ?? this.streamedTokens) + 1;
      }
      this.prefill = null;
      this.scheduleFlush();
    } else if (p.type === 'stats') {
      this.stats = p.stats;
    } else {
      if (p.message) {
        this.pendingDeltas.delete(p.message.id);
        this.upsert(p.message);
        if (this.streamingId === p.message.id) this.streamingId = null;
      }
      if (p.type !== 'failed') this.stats = p.stats;
      this.prefill = null;
      this.touchSession(sessionId);
      if (p.type === 'failed') this.toast('error', this.i18n.error(p.error));
      if (p.type === 'done' && p.notice) this.toast('error', this.i18n.error(p.notice));
    }
  }

  // --- policy & models ---------------------------------------------------------------------------

  /** Switches the open chat's policy (progress and Cancel in `policy`); true once the new policy runs. */
  async setPolicy(policy: PolicyConfig): Promise<boolean> {
    const session = this.current;
    if (!session) return false;
    return this.policy.apply(session.id, policy);
  }

  async setProvider(modelId: string, provider: ModelInfo['provider']): Promise<boolean> {
    return this.attempt(async () => {
      const m = await this.api.modelsSetProvider({ modelId, provider });
      this.models = this.models.map((x) => (x.id === m.id ? m : x));
    });
  }

  /** Removes a model no chat uses (the core refuses otherwise and says why). */
  async removeModel(modelId: string): Promise<boolean> {
    const name = this.models.find((m) => m.id === modelId)?.name ?? '';
    return this.attempt(async () => {
      const r = await this.api.modelsRemove({ modelId });
      this.models = this.models.filter((m) => m.id !== modelId);
      this.toast('info', this.i18n.t(r.deletedFolder ? 'models.removedFolder' : 'models.removed', { name }));
    });
  }

  /** variant null: the best one for the model's provider. The model's open chats reopen on the new graph. */
  async setVariant(modelId: string, variant: string | null): Promise<boolean> {
    return this.attempt(async () => {
      const m = await this.api.modelsSetVariant({ modelId, variant });
      this.models = this.models.map((x) => (x.id === m.id ? m : x));
    });
  }

  // --- ui helpers --------------------------------------------------------------------------------

  toast(kind: Toast['kind'], text: string, action?: Toast['action'], ms?: number): void {
    const id = ++this.toastId;
    this.toasts = [...this.toasts, { id, kind, text, ...(action ? { action } : {}) }];
    setTimeout(() => this.dismiss(id), ms ?? (kind === 'error' ? 9000 : 2500));
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
    applyTheme(theme);
  }

  // --- internals ---------------------------------------------------------------------------------

  private async attempt(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.toast('error', this.i18n.error(err));
      return false;
    }
  }

  private find(id: string): Message | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i].id === id) return this.messages[i];
    return undefined;
  }

  /** Replace by id, or insert in seq order. */
  private upsert(m: Message): void {
    const at = this.messages.findLastIndex((x) => x.id === m.id);
    if (at >= 0 && this.messages[at].seq === m.seq) {
      const next = this.messages.slice();
      next[at] = m;
      this.messages = next;
      return;
    }
    this.messages = insertBySeq(
      this.messages.filter((x) => x.id !== m.id),
      m,
    );
  }

  private flushDeltas(): void {
    if (!this.pendingDeltas.size) return;
    const next = this.messages.slice();
    for (const [id, delta] of this.pendingDeltas) {
      const i = next.findLastIndex((m) => m.id === id);
      if (i >= 0) next[i] = { ...next[i], text: next[i].text + delta };
    }
    this.pendingDeltas.clear();
    this.messages = next;
    if (this.pendingTokens !== null) this.streamedTokens = this.pendingTokens;
    this.pendingTokens = null;
  }

  /** The streaming answer's speed line: the core's latest measurements, counting the tokens of the text shown. */
  get streamingSpeed(): MessageStats | null {
    const answer = this.stats?.answer;
    return answer ? { ...answer, tokens: this.streamedTokens } : null;
  }

  private touchSession(id: string): void {
    const s = this.sessions.find((x) => x.id === id);
    if (!s) return;
    const updated = { ...s, updatedAt: Date.now(), messageCount: id === this.current?.id ? this.messages.length : s.messageCount };
    this.sessions = [updated, ...this.sessions.filter((x) => x.id !== id)];
    if (this.current?.id === id) this.current = { ...this.current, updatedAt: updated.updatedAt, messageCount: updated.messageCount };
  }
}

/** A copy of `list` (ordered by seq) with `m` inserted after every message whose seq is <= its own. */
function insertBySeq(list: Message[], m: Message): Message[] {
  let i = list.length;
  while (i > 0 && list[i - 1].seq > m.seq) i--;
  return [...list.slice(0, i), m, ...list.slice(i)];
}

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
}
