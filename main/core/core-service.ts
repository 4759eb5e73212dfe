import type { AbPacket, ChatPacket, PolicyPacket } from '../api/packets.js';
import type { PerpetuaApi, PerpetuaEvent, PerpetuaEventListener } from '../api/perpetua-api.js';
import type { MethodName, ValidParamsOf } from '../api/methods.js';
import type { InterruptedChat, ModelInfo } from '../api/schemas.js';
import type { Model } from '../engine/model.js';
import { toSpec } from '../policy/policy.js';
import { PerpetuaError } from '../shared/errors.js';
import { parseRowId } from '../store/row-id.js';
import { abHistory } from './ab-history.js';
import { chatRunBy, describeRequest, type RequestWork } from './request-description.js';
import type { LeftOverWork } from '../store/chat-work.js';
import { readAppSettings, snapshotUsage, writeAppSettings } from './app-settings.js';
import { deletePreset, listPresets, savePreset } from './presets.js';
import { toApiSession } from './api-mappers.js';
import { buildCoreParts, PREFILL_CHUNK, type CoreParts, type CoreServiceOptions } from './core-parts.js';
import { modelJob } from './model-job.js';
import { importConversations } from './conversation-import.js';
import { DeletedMessages } from './deleted-messages.js';
import { duplicateSession } from './session-duplicate.js';
import { exportMarkdown, messageCount, messagePage, searchSessions } from './session-queries.js';

export type { CoreServiceOptions } from './core-parts.js';

/** The validated params of a method. */
type P<M extends MethodName> = ValidParamsOf<M>;

/**
 * The core: routes each API call to the part that owns it — the ModelLibrary (models), ModelDownloads (catalog,
 * Hub downloads, conversion), SessionAdmin (a chat as a whole), the SessionDirectory (open sessions, each with its
 * SessionRunner), ApiChats (whole conversations from the OpenAI-compatible server), the AbCoordinator (A/B runs) and
 * the store (read-only views). Built once at start with its parts (core-parts.ts); used by the Electron core
 * process, the web test host, `perpetua serve` and tests.
 */
export class CoreService implements PerpetuaApi {
  private readonly listeners = new Set<PerpetuaEventListener>();
  private readonly parts: CoreParts;
  private readonly deletedMessages = new DeletedMessages();

  /** what the engine before this one left unfinished (app engine only): the chats it froze or died in */
  private readonly leftOver: LeftOverWork[];

  constructor(private readonly opts: CoreServiceOptions) {
    this.parts = buildCoreParts(opts, (e) => this.emit(e));
    this.leftOver = opts.appEngine ? this.store.chatWork.leftOver() : [];
  }

  subscribe(listener: PerpetuaEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: PerpetuaEvent): void {
    for (const l of this.listeners) l(e);
  }

  private get store() {
    return this.parts.store;
  }

  /** What a request asks, in words, for the shell's sentence should the core freeze on it (request-description.ts). */
  describeRequest(method: string, params: unknown): string {
    return describeRequest(this.store, method, params);
  }

  /**
   * A request arrives at the app's engine: its words, and for one that runs a chat's model, a mark on that chat in the
   * database until it is over (store/chat-work.ts), so a freeze in it is known to the next engine, even after a restart
   * of the whole app.
   */
  beginRequest(method: string, params: unknown): RequestWork {
    const what = this.describeRequest(method, params);
    const chatId = chatRunBy(method, params);
    const sessionId = chatId !== undefined && /^[1-9]\d{0,15}$/.test(chatId) ? parseRowId(chatId, 'session') : null;
    if (chatId === undefined || sessionId === null || !this.opts.appEngine) return { what };
    this.store.chatWork.begin(sessionId, what);
    return { what, chatId, done: () => this.store.chatWork.end(sessionId) };
  }

  private get sessions() {
    return this.parts.sessions;
  }

  // ── models ──────────────────────────────────────────────────────────────────────────────────────

  modelsList = () => this.parts.library.list();
  modelsImport = (p: P<'models.import'>) => this.parts.library.import(p.dir, p.variant);
  modelsSetProvider = (p: P<'models.setProvider'>) => this.reopened(this.parts.library.setProvider(p.modelId, p.provider));
  modelsRemove = (p: P<'models.remove'>) => {
    const chats = this.store.listSessions().filter((s) => String(s.modelId) === p.modelId).length;
    return this.parts.library.remove(p.modelId, chats);
  };
  modelsSetVariant = (p: P<'models.setVariant'>) => this.reopened(this.parts.library.setVariant(p.modelId, p.variant));

  /** A model's sessions close once it changed provider or variant: they reopen on what it runs now. */
  private async reopened(change: Promise<{ info: ModelInfo; model: Model }>): Promise<ModelInfo> {
    const { info, model } = await change;
    await this.sessions.closeModel(model.dir);
    return info;
  }

  // catalog, downloads and conversion live in models/ModelDownloads
  catalogList = async (p?: P<'catalog.list'>) => this.parts.downloads.catalog(p?.provider);
  downloadsList = () => this.parts.downloads.list();
  downloadsStart = (p: P<'downloads.start'>) => this.parts.downloads.start(p);
  downloadsPause = (p: P<'downloads.pause'>) => this.parts.downloads.pause(p.id);
  downloadsResume = (p: P<'downloads.resume'>) => this.parts.downloads.resume(p.id);
  downloadsCancel = (p: P<'downloads.cancel'>) => this.parts.downloads.cancel(p.id);
  // imports and conversions with progress; cancelled, nothing is stored and no folder is left behind
  modelsAdd = (p: P<'models.add'>, signal: AbortSignal) =>
    modelJob(signal, (progress) => this.parts.library.import(p.dir, p.variant, { signal, onProgress: progress('hash') }));
  modelsConvert = (p: P<'models.convert'>, signal: AbortSignal) =>
    modelJob(signal, (progress) => this.parts.downloads.convert(p.dir, { signal, onProgress: progress('convert'), hashing: { signal, onProgress: progress('hash') } }));

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  sessionsList = async () => this.store.listSessions().map((s) => toApiSession(s, s.messageCount));
  sessionsInterrupted = async (): Promise<InterruptedChat[]> =>
    this.leftOver.flatMap((w) => {
      const session = this.store.getSession(w.sessionId);
      if (!session || !this.store.chatWork.isLeftOver(w.sessionId)) return []; // deleted, or opened fine since
      const model = this.store.getModel(session.modelId);
      return [{ sessionId: String(w.sessionId), chat: session.name, model: model?.name ?? null, what: w.what, at: w.startedAt }];
    });
  sessionsCreate = (p: P<'sessions.create'>) => this.parts.admin.create(p);
  sessionsOpen = (p: P<'sessions.open'>) => this.parts.admin.open(p);
  sessionsRename = (p: P<'sessions.rename'>) => this.parts.admin.rename(p);
  sessionsSetModel = (p: P<'sessions.setModel'>) => this.parts.admin.setModel(p);
  sessionsDuplicate = async (p: P<'sessions.duplicate'>) => {
    const copy = duplicateSession(this.store, parseRowId(p.id, 'session'));
    return toApiSession(copy, messageCount(this.store, copy.id));
  };
  sessionsDelete = (p: P<'sessions.delete'>) => this.parts.admin.delete(p);
  sessionsTakeOver = (p: P<'sessions.takeOver'>) => this.parts.admin.takeOver(p);
  sessionsSetPinned = (p: P<'sessions.setPinned'>) => this.parts.admin.setPinned(p);
  // generation settings and the system prompt
  sessionsSettings = (p: P<'sessions.settings'>) => this.parts.admin.settings(p);
  sessionsSetGeneration = (p: P<'sessions.setGeneration'>) => this.parts.admin.setGeneration(p);
  sessionsSetSystemPrompt = (p: P<'sessions.setSystemPrompt'>) => this.parts.admin.setSystemPrompt(p);

  sessionsImport = async (p: P<'sessions.import'>) => importConversations(this.store, this.parts.library.row(p.modelId), p.file);
  // app-wide settings, the snapshot budget and presets
  settingsGet = async () => readAppSettings(this.store);
  settingsSet = async (p: P<'settings.set'>) => writeAppSettings(this.store, p);
  snapshotsUsage = async () => snapshotUsage(this.store);
  presetsList = async () => listPresets(this.store);
  presetsSave = async (p: P<'presets.save'>) => savePreset(this.store, p);
  presetsDelete = async (p: P<'presets.delete'>) => deletePreset(this.store, p.id);

  sessionsSearch = async (p: P<'sessions.search'>) => searchSessions(this.store, p.text, p.limit);
  sessionsExportMarkdown = async (p: P<'sessions.exportMarkdown'>) => exportMarkdown(this.store, parseRowId(p.id, 'session'));
  messagesPage = async (p: P<'messages.page'>) => messagePage(this.store, parseRowId(p.sessionId, 'session'), p.beforeSeq, p.limit);

  /** Deletes one message as the chat's job (refused, busy, while it works); Undo can put it back for a while. */
  async messagesDelete(p: P<'messages.delete'>) {
    const runner = await this.sessions.runner(p.sessionId);
    const removal = await runner.removeMessage(parseRowId(p.messageId, 'message'));
    this.parts.ab.forget(runner.sessionId); // A/B branches held the message
    return { undoId: this.deletedMessages.keep(removal), stats: runner.stats() };
  }

  async messagesRestore(p: P<'messages.restore'>) {
    const runner = await this.sessions.runner(p.sessionId);
    await runner.restoreMessage(this.deletedMessages.get(p.undoId, runner.sessionId));
    this.deletedMessages.forget(p.undoId);
    this.parts.ab.forget(runner.sessionId);
  }

  // ── chat ────────────────────────────────────────────────────────────────────────────────────────

  async *chatSend(p: P<'chat.send'>, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    yield* this.movesOn(runner.sessionId, runner.answer((opts) => runner.chat.send(p.text, opts), signal));
  }

  async *chatRegenerate(p: P<'chat.regenerate'>, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    const messageId = p.messageId === undefined ? undefined : parseRowId(p.messageId, 'message');
    yield* this.movesOn(runner.sessionId, runner.answer((opts) => runner.chat.regenerate(opts, messageId), signal));
  }

  /** More of the last answer: the cache ends inside it (an answer's turn is closed by the next user turn), so it goes on. */
  async *chatContinue(p: P<'chat.continue'>, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    const last = this.store.listMessagesBefore(runner.sessionId, Number.MAX_SAFE_INTEGER, 1)[0];
    if (last?.role !== 'assistant' || last.state !== 'done') {
      throw new PerpetuaError('Only a finished answer at the end of the chat can be continued.', { code: 'invalid_input' });
    }
    yield* this.movesOn(runner.sessionId, runner.answer((opts) => runner.chat.continue(opts), signal));
  }

  async *chatEdit(p: P<'chat.edit'>, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    const messageId = parseRowId(p.messageId, 'message');
    yield* this.movesOn(runner.sessionId, runner.answer((opts) => runner.chat.edit(messageId, p.text, opts), signal));
  }

  async chatSwitchBranch(p: P<'chat.switchBranch'>) {
    const runner = await this.sessions.runner(p.sessionId);
    const statement = await runner.switchBranch(parseRowId(p.messageId, 'message'), p.version); // busy at once when the session works
    if (statement !== null) this.parts.ab.forget(runner.sessionId);
    return { switched: statement !== null, statement };
  }

  // whole conversations from OpenAI-style clients (main/server), matched to the stored chat they continue
  chatComplete = (p: P<'chat.complete'>, signal: AbortSignal) => this.parts.apiChats.complete(p, signal);
  textComplete = (p: P<'text.complete'>, signal: AbortSignal) => this.parts.apiChats.completeText(p, signal);

  /** Stops what the session runs (an answer, an A/B run); a no-op when idle. */
  async chatStop(p: P<'chat.stop'>) {
    (await this.sessions.ifOpen(p.sessionId))?.stop();
  }

  /** Refused at once (busy) when the session is doing something; once switched, earlier A/B branches no longer fit. */
  async *policySet(p: P<'policy.set'>, signal: AbortSignal): AsyncGenerator<PolicyPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    for await (const packet of runner.setPolicy(toSpec(p.policy), signal)) {
      if (packet.type === 'done') this.parts.ab.forget(runner.sessionId);
      yield packet;
    }
  }

  inspectSinks = async (p: P<'inspect.sinks'>) => (await this.sessions.runner(p.sessionId)).inspectSinks();

  // ── A/B runs of cache policies ──────────────────────────────────────────────────────────────────

  async *abStart(p: P<'ab.start'>, signal: AbortSignal): AsyncGenerator<AbPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    // both branches answer with the chat's settings
    const { sampling, maxTokens } = runner.answerSettings();
    const req = { chunk: PREFILL_CHUNK, sampling, a: toSpec(p.a), b: toSpec(p.b), prompt: p.prompt, maxTokens: p.maxTokens ?? maxTokens };
    yield* this.parts.ab.run(runner, req, signal);
  }

  abStop = (p: P<'ab.stop'>) => this.chatStop(p);
  abVote = (p: P<'ab.vote'>) => this.parts.ab.vote(parseRowId(p.runId, 'A/B run'), p.vote, p.continueWith ? (id) => this.sessions.runner(id) : undefined);
  abHistory = async (p?: P<'ab.history'>) => abHistory(this.store, p?.sessionId === undefined ? undefined : parseRowId(p.sessionId, 'session'));

  async close(): Promise<void> {
    // every part is closed even when one fails (a full disk under the last snapshot): the database is always
    // closed last, and the first failure is reported once all are done
    const steps = [
      () => this.parts.downloads.close(),
      () => this.sessions.closeAll(),
      () => this.parts.ab.close(),
      () => this.parts.library.close(),
      // closed on purpose: nothing it was working on froze
      () => this.store.chatWork.endAll(),
      () => this.store.db.close(),
    ];
    let first: unknown;
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /** Passes a session's packets through; once the request is accepted, earlier A/B branches no longer fit. */
  private async *movesOn<T>(sessionId: number, packets: AsyncGenerator<T>): AsyncGenerator<T> {
    let first = true;
    for await (const p of packets) {
      if (first) this.parts.ab.forget(sessionId);
      first = false;
      yield p;
    }
  }
}
