import { dirname, join, resolve } from 'node:path';
import type { AbPacket, ChatPacket, ModelJobPacket, PolicyPacket } from '../api/packets.js';
import type { PerpetuaApi, PerpetuaEvent, PerpetuaEventListener } from '../api/perpetua-api.js';
import type { MethodName, ValidParamsOf } from '../api/methods.js';
import type { ModelInfo } from '../api/schemas.js';
import type { Model } from '../engine/model.js';
import { DEFAULT_OPEN_LIMIT } from '../api/limits.js';
import { hubOptionsFromEnv, type HubClientOptions } from '../models/hub-client.js';
import { ModelDownloads } from '../models/model-downloads.js';
import { ModelLibrary } from '../models/model-library.js';
import { toSpec } from '../policy/policy.js';
import { emitting } from '../shared/emitting.js';
import { errorCode } from '../shared/errors.js';
import { ProgressTicker } from '../shared/progress-ticker.js';
import { encodePolicy } from '../policy/policy-store.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { parseRowId } from '../store/row-id.js';
import { NotFoundError } from '../store/errors.js';
import type { Session } from '../store/types.js';
import { generationValues, modelSampling, storedGeneration } from './generation-settings.js';
import { AbCoordinator } from './ab-coordinator.js';
import { ApiChats } from './api-chats.js';
import { abHistory } from './ab-history.js';
import { toApiSession } from './api-mappers.js';
import { SessionDirectory } from './session-directory.js';
import { exportMarkdown, messageCount, messagePage, searchSessions } from './session-queries.js';

export interface CoreServiceOptions {
  dbFile: string;
  /** folder whose model subfolders are imported at start */
  modelsDir?: string;
  /** most tokens one answer may have */
  maxAnswerTokens?: number;
  /** writable folder for downloaded and converted models (default modelsDir, else models/ beside the database) */
  downloadDir?: string;
  /** Hugging Face endpoint and token (default HF_ENDPOINT, HF_TOKEN) */
  hub?: HubClientOptions;
}

/** The validated params of a method. */
type P<M extends MethodName> = ValidParamsOf<M>;

/** Tokens per prefill run of an answer's prompt (chat and A/B alike). */
const PREFILL_CHUNK = 256;

/**
 * The core: routes each API call to the part that owns it — the ModelLibrary (models), ModelDownloads (catalog,
 * Hub downloads, conversion), the SessionDirectory (open sessions, each with its SessionRunner), the AbCoordinator
 * (A/B runs) and the store (read-only views).
 * Built once at start with its parts; used by the Electron core process, the web test host and tests.
 */
export class CoreService implements PerpetuaApi {
  private readonly store: Store;
  private readonly listeners = new Set<PerpetuaEventListener>();
  private readonly library: ModelLibrary;
  private readonly sessions: SessionDirectory;
  private readonly ab: AbCoordinator;
  private readonly downloads: ModelDownloads;
  private readonly apiChats: ApiChats;
  private readonly maxAnswerTokens: number;

  constructor(opts: CoreServiceOptions) {
    this.store = new Store(openDatabase(resolve(opts.dbFile)));
    // answers a previous core left streaming were cut off: only now, never while this core streams
    this.store.markInterruptedMessages();
    this.maxAnswerTokens = opts.maxAnswerTokens ?? 512;
    const downloadDir = resolve(opts.downloadDir ?? opts.modelsDir ?? join(dirname(resolve(opts.dbFile)), 'models'));
    this.library = new ModelLibrary(this.store, [...(opts.modelsDir ? [opts.modelsDir] : []), downloadDir]);
    this.downloads = new ModelDownloads({
      dir: downloadDir,
      hub: opts.hub ?? hubOptionsFromEnv(),
      importModel: (dir, hashing) => this.library.import(dir, undefined, hashing),
      listModels: () => this.store.listModels().map((m) => ({ id: String(m.id), path: m.dir })),
      onDownload: (payload) => this.emit({ event: 'download', payload }),
    });
    this.ab = new AbCoordinator(this.store);
    this.sessions = new SessionDirectory(this.store, this.library, {
      defaults: { chunk: PREFILL_CHUNK, maxTokens: this.maxAnswerTokens },
      onRestore: (sessionId, report) => {
        if (report.refused) this.emit({ event: 'error', payload: { sessionId: String(sessionId), message: report.refused.reason } });
      },
    });
    const movedOn = (id: number) => this.ab.forget(id);
    this.apiChats = new ApiChats(this.store, this.library, this.sessions, { chunk: PREFILL_CHUNK, maxTokens: this.maxAnswerTokens, movedOn });
  }

  subscribe(listener: PerpetuaEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: PerpetuaEvent): void {
    for (const l of this.listeners) l(e);
  }

  // ── models ──────────────────────────────────────────────────────────────────────────────────────

  modelsList = () => this.library.list();
  modelsImport = (p: P<'models.import'>) => this.library.import(p.dir, p.variant);
  modelsSetProvider = (p: P<'models.setProvider'>) => this.reopened(this.library.setProvider(p.modelId, p.provider));
  modelsSetVariant = (p: P<'models.setVariant'>) => this.reopened(this.library.setVariant(p.modelId, p.variant));

  /** A model's sessions close once it changed provider or variant: they reopen on what it runs now. */
  private async reopened(change: Promise<{ info: ModelInfo; model: Model }>): Promise<ModelInfo> {
    const { info, model } = await change;
    await this.sessions.closeModel(model.dir);
    return info;
  }

  // catalog, downloads and conversion live in models/ModelDownloads
  catalogList = async (p?: P<'catalog.list'>) => this.downloads.catalog(p?.provider);
  downloadsList = () => this.downloads.list();
  downloadsStart = (p: P<'downloads.start'>) => this.downloads.start(p);
  downloadsPause = (p: P<'downloads.pause'>) => this.downloads.pause(p.id);
  downloadsResume = (p: P<'downloads.resume'>) => this.downloads.resume(p.id);
  downloadsCancel = (p: P<'downloads.cancel'>) => this.downloads.cancel(p.id);
  // imports and conversions with progress; cancelled, nothing is stored and no folder is left behind
  modelsAdd = (p: P<'models.add'>, signal: AbortSignal) =>
    modelJob(signal, (progress) => this.library.import(p.dir, p.variant, { signal, onProgress: progress('hash') }));
  modelsConvert = (p: P<'models.convert'>, signal: AbortSignal) =>
    modelJob(signal, (progress) => this.downloads.convert(p.dir, { signal, onProgress: progress('convert'), hashing: { signal, onProgress: progress('hash') } }));

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  sessionsList = async () => this.store.listSessions().map((s) => toApiSession(s, s.messageCount));

  async sessionsCreate(p: P<'sessions.create'>) {
    const { name: policy, params: policyParams } = encodePolicy(toSpec(p.policy));
    const modelId = this.library.row(p.modelId).id;
    const session = this.store.createSession({ name: p.name, modelId, policy, policyParams, systemPrompt: p.systemPrompt ?? '' });
    return toApiSession(session, 0);
  }

  async sessionsOpen(p: P<'sessions.open'>) {
    const runner = await this.sessions.runner(p.id);
    const id = runner.sessionId;
    const page = messagePage(this.store, id, Number.MAX_SAFE_INTEGER, p.limit ?? DEFAULT_OPEN_LIMIT);
    return { session: toApiSession(runner.chat.session, messageCount(this.store, id)), ...page, stats: runner.stats() };
  }

  async sessionsRename(p: P<'sessions.rename'>) {
    const session = this.store.renameSession(parseRowId(p.id, 'session'), p.name);
    const open = await this.sessions.ifOpen(session.id);
    if (open) open.chat.session = session;
    return toApiSession(session, messageCount(this.store, session.id));
  }

  async sessionsDelete(p: P<'sessions.delete'>) {
    this.ab.forget(parseRowId(p.id, 'session'));
    await this.sessions.close(p.id); // stops and waits for what it runs
    this.store.deleteSession(parseRowId(p.id, 'session'));
  }

  // generation settings and the system prompt
  async sessionsSettings(p: P<'sessions.settings'>) {
    const id = parseRowId(p.id, 'session');
    return this.chatSettings(this.store.getSession(id) ?? throwNotFound(id));
  }

  async sessionsSetGeneration(p: P<'sessions.setGeneration'>) {
    const session = this.store.updateSessionGeneration(parseRowId(p.id, 'session'), p.generation);
    const open = await this.sessions.ifOpen(session.id);
    if (open) open.chat.session = session; // the next answer uses them
    return this.chatSettings(session);
  }

  async sessionsSetSystemPrompt(p: P<'sessions.setSystemPrompt'>) {
    const runner = await this.sessions.runner(p.id);
    const statement = await runner.setSystemPrompt(p.systemPrompt); // refused at once (busy) when the session is doing something
    this.ab.forget(runner.sessionId);
    return { statement, session: toApiSession(runner.chat.session, messageCount(this.store, runner.sessionId)), stats: runner.stats() };
  }

  private chatSettings(session: Session) {
    const model = modelSampling(this.library.row(session.modelId).dir);
    return { generation: storedGeneration(session.generation), defaults: generationValues(model, this.maxAnswerTokens), systemPrompt: session.systemPrompt };
  }

  sessionsSearch = async (p: P<'sessions.search'>) => searchSessions(this.store, p.text, p.limit);
  sessionsExportMarkdown = async (p: P<'sessions.exportMarkdown'>) => exportMarkdown(this.store, parseRowId(p.id, 'session'));
  messagesPage = async (p: P<'messages.page'>) => messagePage(this.store, parseRowId(p.sessionId, 'session'), p.beforeSeq, p.limit);

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

  async *chatEdit(p: P<'chat.edit'>, signal: AbortSignal): AsyncGenerator<ChatPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    const messageId = parseRowId(p.messageId, 'message');
    yield* this.movesOn(runner.sessionId, runner.answer((opts) => runner.chat.edit(messageId, p.text, opts), signal));
  }

  async chatSwitchBranch(p: P<'chat.switchBranch'>) {
    const runner = await this.sessions.runner(p.sessionId);
    const switching = runner.switchBranch(parseRowId(p.messageId, 'message'), p.version); // busy at once when the session works
    const statement = await switching;
    if (statement !== null) this.ab.forget(runner.sessionId);
    return { switched: statement !== null, statement };
  }

  // whole conversations from OpenAI-style clients (main/server), matched to the stored chat they continue
  chatComplete = (p: P<'chat.complete'>, signal: AbortSignal) => this.apiChats.complete(p, signal);
  textComplete = (p: P<'text.complete'>, signal: AbortSignal) => this.apiChats.completeText(p, signal);

  /** Stops what the session runs (an answer, an A/B run); a no-op when idle. */
  async chatStop(p: P<'chat.stop'>) {
    (await this.sessions.ifOpen(p.sessionId))?.stop();
  }

  /** Refused at once (busy) when the session is doing something; once switched, earlier A/B branches no longer fit. */
  async *policySet(p: P<'policy.set'>, signal: AbortSignal): AsyncGenerator<PolicyPacket> {
    const runner = await this.sessions.runner(p.sessionId);
    for await (const packet of runner.setPolicy(toSpec(p.policy), signal)) {
      if (packet.type === 'done') this.ab.forget(runner.sessionId);
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
    yield* this.ab.run(runner, req, signal);
  }

  abStop = (p: P<'ab.stop'>) => this.chatStop(p);
  abVote = (p: P<'ab.vote'>) => this.ab.vote(parseRowId(p.runId, 'A/B run'), p.vote, p.continueWith ? (id) => this.sessions.runner(id) : undefined);
  abHistory = async (p?: P<'ab.history'>) => abHistory(this.store, p?.sessionId === undefined ? undefined : parseRowId(p.sessionId, 'session'));

  async close(): Promise<void> {
    await this.downloads.close();
    await this.sessions.closeAll();
    this.ab.close();
    await this.library.close();
    this.store.db.close();
  }

  /** Passes a session's packets through; once the request is accepted, earlier A/B branches no longer fit. */
  private async *movesOn<T>(sessionId: number, packets: AsyncGenerator<T>): AsyncGenerator<T> {
    let first = true;
    for await (const p of packets) {
      if (first) this.ab.forget(sessionId);
      first = false;
      yield p;
    }
  }
}

function throwNotFound(sessionId: number): never {
  throw new NotFoundError('session', sessionId);
}

/**
 * A model job (import, conversion) as channel packets: progress per phase with an ETA, a few times a second, then
 * the imported model; a stop ends it `stopped`, an error `failed` with its code.
 */
async function* modelJob(
  signal: AbortSignal,
  work: (progress: (phase: 'convert' | 'hash') => (done: number, total: number) => void) => Promise<ModelInfo>,
): AsyncGenerator<ModelJobPacket> {
  const tickers = { convert: new ProgressTicker(), hash: new ProgressTicker() };
  try {
    const model = yield* emitting<ModelJobPacket, ModelInfo>((emit) =>
      work((phase) => (done, total) => {
        const figures = tickers[phase].tick(done, total);
        if (figures) emit({ type: 'progress', phase, ...figures });
      }),
    );
    yield { type: 'done', model };
  } catch (err) {
    if (signal.aborted || errorCode(err) === 'cancelled') yield { type: 'stopped' };
    else yield { type: 'failed', error: { code: errorCode(err), message: (err as Error)?.message || 'The model could not be imported.' } };
  }
}
