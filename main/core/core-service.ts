import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { PerpetuaApi, PerpetuaEvent, PerpetuaEventListener } from '../api/perpetua-api.js';
import type {
  AbHistoryResult,
  AbStartResult,
  AbVote,
  AbVoteResult,
  ChatRegenerateResult,
  ChatSendResult,
  ExecutionProvider,
  Message as ApiMessage,
  MessagesPageResult,
  ModelInfo,
  ModelVariant,
  PolicyConfig,
  PolicySetResult,
  SearchHit,
  Session as ApiSession,
  SessionsOpenResult,
  SinkReport,
  Stats,
} from '../api/schemas.js';
import { DEFAULT_OPEN_LIMIT } from '../api/limits.js';
import type { CatalogItem, DownloadInfo } from '../api/download-schemas.js';
import { hubOptionsFromEnv, type HubClientOptions } from '../models/hub-client.js';
import { checkImportable } from '../models/import-check.js';
import { ModelDownloads } from '../models/model-downloads.js';
import { toConfig, toSpec } from '../policy/policy.js';
import { encodePolicy } from '../policy/policy-store.js';
import { describePolicy, formatPolicy } from '../policy/policy-text.js';
import { PerpetuaError } from '../shared/errors.js';
import { EXECUTION_PROVIDERS } from '../engine/execution-provider.js';
import { Model } from '../engine/model.js';
import { folderVariants } from '../engine/model-files.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { SNIPPET_MARK_END, SNIPPET_MARK_START, type Message, type Model as ModelRow, type Session } from '../store/types.js';
import { toApiAbRun, toApiMetrics, summarizeAbRuns } from './ab-history.js';
import { AbBranch, runAb, type AbBranchMetrics } from './ab-run.js';
import { DEFAULT_FIRST_TOKENS, inspectSinks, inspectTokens } from '../eval/sink-inspector.js';
import { sessionCacheView, StreamTokenCounter, type CacheView, type StreamingTurn } from './cache-view.js';
import type { ChatEvent } from './chat-session.js';
import { PersistentChat, sessionPolicy, type StreamOptions } from './persistent-chat.js';

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

interface OpenSession {
  chat: PersistentChat;
  busy: AbortController | null;
  tokensPerSecond: number;
  /** per-message stream token counts for the cache view (made on first use) */
  counter?: StreamTokenCounter;
  /** the turn being streamed: tokens of its prompt fed and of its answer generated so far */
  streaming?: StreamingTurn;
  /** The A/B run in progress (busy is its controller), if any. */
  abId?: string | null;
}

/** The branches of a stored, not yet continued A/B run: kept so a vote can continue the session from one. */
interface PendingAb {
  sessionId: number;
  prompt: string;
  a: AbBranch;
  b: AbBranch;
  metrics: { a: AbBranchMetrics; b: AbBranchMetrics };
  /** What the session was when the branches were forked: continuing is refused once it moved on. */
  base: { chat: PersistentChat['chat']; lastMessageId: number | null };
}

/** Thrown for requests that make no sense right now (a busy session, an unknown id). */
export class CoreRequestError extends PerpetuaError {}

/**
 * The core: owns the store and the loaded models, and implements the typed API for the Electron shell, the
 * web test host and tests. Answers stream as events; one answer per session at a time.
 */
export class CoreService implements PerpetuaApi {
  private readonly store: Store;
  private readonly listeners = new Set<PerpetuaEventListener>();
  private readonly models = new Map<string, Promise<Model>>();
  /** folders of modelsDir that failed to load (a model import loads the whole ONNX graph) */
  private readonly unusableDirs = new Set<string>();
  private readonly open = new Map<number, Promise<OpenSession>>();
  private readonly maxAnswerTokens: number;
  /** Stored A/B run id → its branches (at most one run per session: the newest). */
  private readonly pendingAb = new Map<number, PendingAb>();
  private readonly downloads: ModelDownloads;

  constructor(private readonly opts: CoreServiceOptions) {
    this.store = new Store(openDatabase(resolve(opts.dbFile)));
    this.store.markInterruptedMessages();
    this.maxAnswerTokens = opts.maxAnswerTokens ?? 512;
    this.downloads = new ModelDownloads({
      dir: this.downloadDir,
      hub: opts.hub ?? hubOptionsFromEnv(),
      importModel: (dir) => this.modelsImport({ dir }),
      listModels: () => this.store.listModels().map((m) => ({ id: String(m.id), path: m.dir })),
      onDownload: (payload) => this.emit({ event: 'download', payload }), // becomes a channel once channels land
    });
  }

  private get downloadDir(): string {
    return resolve(this.opts.downloadDir ?? this.opts.modelsDir ?? join(dirname(resolve(this.opts.dbFile)), 'models'));
  }

  subscribe(listener: PerpetuaEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: PerpetuaEvent): void {
    for (const l of this.listeners) l(e);
  }

  // ── models ──────────────────────────────────────────────────────────────────────────────────────

  async modelsList(): Promise<ModelInfo[]> {
    await this.importModelsDir();
    return this.store.listModels().map((m) => this.modelInfo(m));
  }

  async modelsImport(p: { dir: string; variant?: string }): Promise<ModelInfo> {
    checkImportable(p.dir);
    const model = await Model.load(p.dir, { variant: p.variant });
    const row = this.store.upsertModel({
      name: model.name,
      dir: model.dir,
      fingerprint: model.fingerprint,
      config: { modelType: model.config.modelType, maxPositions: model.config.maxPositions, provider: 'cpu', variant: p.variant },
    });
    this.models.set(modelKey(row.id, 'cpu', p.variant), Promise.resolve(model));
    return this.modelInfo(row);
  }

  async modelsSetVariant(p: { modelId: string; variant: string | null }): Promise<ModelInfo> {
    const row = this.modelRow(p.modelId);
    const model = await this.loadModel({ ...row, config: { ...row.config, variant: p.variant ?? undefined } });
    const updated = this.store.upsertModel({ ...row, config: { ...row.config, variant: p.variant ?? undefined } });
    // Sessions of this model move to the new variant the next time they are opened.
    for (const [id, s] of this.open) if ((await s).chat.engine.model.dir === model.dir) this.open.delete(id);
    return this.modelInfo(updated);
  }

  async modelsSetProvider(p: { modelId: string; provider: ExecutionProvider }): Promise<ModelInfo> {
    const row = this.modelRow(p.modelId);
    const updated = this.store.upsertModel({ ...row, config: { ...row.config, provider: p.provider } });
    const model = await this.loadModel(updated);
    // Sessions of this model move to the new provider the next time they are opened.
    for (const [id, s] of this.open) if ((await s).chat.engine.model.dir === model.dir) this.open.delete(id);
    return { ...this.modelInfo(updated), provider: model.provider, error: model.providerFallbackReason ?? undefined };
  }

  // catalog, downloads and conversion live in models/ModelDownloads
  catalogList = async (p?: { provider?: ExecutionProvider }): Promise<CatalogItem[]> => this.downloads.catalog(p?.provider);
  downloadsList = (): Promise<DownloadInfo[]> => this.downloads.list();
  downloadsStart = (p: { repo: string; revision?: string; variant?: string; provider?: ExecutionProvider }) => this.downloads.start(p);
  downloadsPause = (p: { id: string }) => this.downloads.pause(p.id);
  downloadsResume = (p: { id: string }) => this.downloads.resume(p.id);
  downloadsCancel = (p: { id: string }) => this.downloads.cancel(p.id);
  modelsConvert = (p: { dir: string }) => this.downloads.convert(p.dir);

  private async importModelsDir(): Promise<void> {
    for (const dir of new Set([this.opts.modelsDir, this.downloadDir])) if (dir) await this.importFolders(resolve(dir));
  }

  private async importFolders(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    const known = new Set(this.store.listModels().map((m) => resolve(m.dir)));
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.')) continue; // .downloads and other unfinished work is never a model
      const sub = resolve(join(dir, name));
      if (known.has(sub) || this.unusableDirs.has(sub) || !statSync(sub).isDirectory()) continue;
      // an unusable folder is skipped, and not loaded again on the next listing
      await this.modelsImport({ dir: sub }).catch(() => this.unusableDirs.add(sub));
    }
  }

  private modelRow(id: string): ModelRow {
    const row = this.store.getModel(Number(id));
    if (!row) throw new CoreRequestError('That model is not in the library any more.');
    return row;
  }

  private modelInfo(m: ModelRow): ModelInfo {
    const c = m.config as { modelType?: string; maxPositions?: number; provider?: ExecutionProvider; variant?: string };
    return {
      id: String(m.id),
      name: m.name,
      path: m.dir,
      architecture: c.modelType,
      maxPositions: c.maxPositions,
      sizeBytes: onnxSize(m.dir),
      provider: c.provider ?? 'cpu',
      availableProviders: [...EXECUTION_PROVIDERS],
      variant: c.variant,
      variants: variantsOf(m.dir),
    };
  }

  private loadModel(row: ModelRow): Promise<Model> {
    const { provider = 'cpu', variant } = row.config as { provider?: ExecutionProvider; variant?: string };
    const key = modelKey(row.id, provider, variant);
    let model = this.models.get(key);
    if (!model) {
      model = Model.load(row.dir, { executionProvider: provider, variant });
      model.catch(() => this.models.delete(key));
      this.models.set(key, model);
    }
    return model;
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  async sessionsList(): Promise<ApiSession[]> {
    return this.store.listSessions().map((s) => toApiSession(s, s.messageCount));
  }

  async sessionsCreate(p: { name: string; modelId: string; policy: PolicyConfig; systemPrompt?: string }): Promise<ApiSession> {
    const row = this.modelRow(p.modelId);
    const stored = encodePolicy(toSpec(p.policy));
    const session = this.store.createSession({
      name: p.name,
      modelId: row.id,
      policy: stored.name,
      policyParams: stored.params,
      systemPrompt: p.systemPrompt ?? '',
    });
    return toApiSession(session, 0);
  }

  async sessionsOpen(p: { id: string; limit?: number }): Promise<SessionsOpenResult> {
    const s = await this.session(p.id);
    const limit = p.limit ?? DEFAULT_OPEN_LIMIT;
    const messages = this.store.listMessagesBefore(s.chat.session.id, Number.MAX_SAFE_INTEGER, limit + 1);
    const hasMore = messages.length > limit;
    const shown = hasMore ? messages.slice(1) : messages;
    return {
      session: toApiSession(s.chat.session, this.messageCount(s.chat.session.id)),
      messages: shown.map(toApiMessage),
      hasMore,
      stats: this.stats(s),
    };
  }

  async sessionsRename(p: { id: string; name: string }): Promise<ApiSession> {
    const session = this.store.renameSession(Number(p.id), p.name);
    const open = this.open.get(session.id);
    if (open) (await open).chat.session = session;
    return toApiSession(session, this.messageCount(session.id));
  }

  async sessionsDelete(p: { id: string }): Promise<void> {
    const id = Number(p.id);
    const open = this.open.get(id);
    if (open) (await open).busy?.abort();
    this.open.delete(id);
    this.forgetAbBranches(id);
    this.store.deleteSession(id);
  }

  async sessionsSearch(p: { text: string; limit?: number }): Promise<SearchHit[]> {
    const q = p.text.trim().toLowerCase();
    const byName: SearchHit[] = q
      ? this.store
          .listSessions()
          .filter((s) => s.name.toLowerCase().includes(q))
          .map((s) => ({ sessionId: String(s.id), sessionName: s.name, messageId: null, seq: null, role: null, snippet: s.name }))
      : [];
    const inText = this.store.search(p.text, { limit: p.limit ?? 50 }).map((h) => ({
      sessionId: String(h.sessionId),
      sessionName: h.sessionName,
      messageId: String(h.messageId),
      seq: h.seq,
      role: h.role,
      snippet: h.snippet.replaceAll(SNIPPET_MARK_START, '').replaceAll(SNIPPET_MARK_END, ''),
    }));
    return [...byName, ...inText].slice(0, p.limit ?? 50);
  }

  async sessionsExportMarkdown(p: { id: string }): Promise<string> {
    const session = this.store.getSession(Number(p.id));
    if (!session) throw new CoreRequestError('That session does not exist any more.');
    const spec = sessionPolicy(session);
    const lines = [`# ${session.name}`, '', `Cache policy: ${describePolicy(spec)}.`, ''];
    if (session.systemPrompt) lines.push('## System', '', session.systemPrompt, '');
    for (const m of this.store.listMessages(session.id)) {
      lines.push(`## ${m.role === 'user' ? 'You' : 'Assistant'}${m.state === 'stopped' ? ' (stopped)' : ''}`, '', m.text, '');
    }
    return lines.join('\n');
  }

  async messagesPage(p: { sessionId: string; beforeSeq: number; limit: number }): Promise<MessagesPageResult> {
    const messages = this.store.listMessagesBefore(Number(p.sessionId), p.beforeSeq, p.limit + 1);
    const hasMore = messages.length > p.limit;
    return { messages: (hasMore ? messages.slice(1) : messages).map(toApiMessage), hasMore };
  }

  private messageCount(sessionId: number): number {
    return this.store.listSessions().find((s) => s.id === sessionId)?.messageCount ?? 0;
  }

  /** The open chat of a session, loading its model and restoring its cache on first use. */
  private session(id: string): Promise<OpenSession> {
    const sessionId = Number(id);
    let open = this.open.get(sessionId);
    if (!open) {
      open = (async () => {
        const row = this.store.getSession(sessionId);
        if (!row) throw new CoreRequestError('That session does not exist any more.');
        const model = await this.loadModel(this.modelRow(String(row.modelId)));
        const notices: string[] = [];
        const chat = await PersistentChat.open(this.store, model, { id: row.id, name: row.name, onNotice: (t) => notices.push(t) });
        for (const n of notices.filter((t) => /damaged|different model|cannot read|belongs to/.test(t))) {
          this.emit({ event: 'error', payload: { sessionId: id, message: n } });
        }
        return { chat, busy: null, tokensPerSecond: 0 };
      })();
      open.catch(() => this.open.delete(sessionId));
      this.open.set(sessionId, open);
    }
    return open;
  }

  // ── chat ────────────────────────────────────────────────────────────────────────────────────────

  async chatSend(p: { sessionId: string; text: string }): Promise<ChatSendResult> {
    const s = await this.idleSession(p.sessionId);
    return new Promise((resolveStart, rejectStart) => {
      let started = false;
      this.run(s, p.sessionId, (opts) => s.chat.send(p.text, opts), (user, assistantId) => {
        started = true;
        resolveStart({ userMessage: toApiMessage(user!), assistantMessageId: String(assistantId) });
      }).catch((err) => (started ? undefined : rejectStart(err)));
    });
  }

  async chatStop(p: { sessionId: string }): Promise<void> {
    const open = this.open.get(Number(p.sessionId));
    if (open) (await open).busy?.abort();
  }

  async chatRegenerate(p: { sessionId: string }): Promise<ChatRegenerateResult> {
    const s = await this.idleSession(p.sessionId);
    const last = this.store.listMessagesBefore(s.chat.session.id, Number.MAX_SAFE_INTEGER, 1)[0];
    if (!last) throw new CoreRequestError('There is no answer to regenerate yet.');
    const replaced = last.role === 'assistant' ? String(last.id) : null;
    return new Promise((resolveStart, rejectStart) => {
      let started = false;
      this.run(s, p.sessionId, (opts) => s.chat.regenerate(opts), (_user, assistantId) => {
        started = true;
        resolveStart({ replacedMessageId: replaced, assistantMessageId: String(assistantId) });
      }).catch((err) => (started ? undefined : rejectStart(err)));
    });
  }

  /** The sink inspector over what the session's cache holds now (the kept head and the newest tokens). */
  async inspectSinks(p: { sessionId: string }): Promise<SinkReport> {
    const s = await this.session(p.sessionId);
    this.assertIdle(s);
    const c = s.chat.engine.policy.contents();
    const tokens = inspectTokens(c.tokens.length ? c.tokens : c.history, c.sinks);
    if (tokens.length <= DEFAULT_FIRST_TOKENS) {
      throw new PerpetuaError('Chat a little first: the inspector needs a few more tokens in the cache.', { code: 'invalid_input' });
    }
    return inspectSinks(s.chat.engine.model, tokens);
  }

  async policySet(p: { sessionId: string; policy: PolicyConfig }): Promise<PolicySetResult> {
    const s = await this.idleSession(p.sessionId);
    const before = s.chat.engine.policy;
    const old = { spec: before.spec, length: before.length, seen: before.totalTokensSeen };
    const spec = toSpec(p.policy);
    const started = performance.now();
    await s.chat.setPolicy(spec);
    const now = s.chat.engine.policy;
    const ms = Math.round(performance.now() - started);
    const statement =
      `Switched from ${describePolicy(old.spec)} to ${describePolicy(spec)}. The old cache (${old.length} tokens) was dropped and the new one ` +
      `rebuilt by re-reading the transcript in ${ms} ms: it now holds ${now.length} of the ${now.totalTokensSeen} tokens of this conversation` +
      (spec.name === 'sink' ? ` (${Math.min(spec.sink, now.length)} sink tokens kept forever).` : '.');
    const stats = this.stats(s);
    this.emit({ event: 'stats', payload: stats });
    return { statement, policy: toConfig(spec), stats };
  }

  /** Streams one answer, turning chat events into API events; resolves when the answer ends. */
  private async run(
    s: OpenSession,
    sessionId: string,
    start: (opts: StreamOptions) => AsyncGenerator<ChatEvent>,
    onStart: (user: Message | null, assistantId: number) => void,
  ): Promise<void> {
    const abort = new AbortController();
    s.busy = abort;
    let messageId = '';
    let text = '';
    // sent once the session is idle again (snapshot written), so the next request is never refused
    let final: Extract<PerpetuaEvent, { event: 'messageDone' }>['payload'] | null = null;
    try {
      const events = start({
        maxTokens: this.maxAnswerTokens,
        chunk: 256,
        signal: abort.signal,
        sampling: { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.1 },
        onStart: (started) => {
          messageId = String(started.assistantId);
          const seenAtStart = s.chat.engine.policy.totalTokensSeen;
          s.streaming = { messageId: started.assistantId, generated: 0, promptId: started.user?.id, promptFed: 0, seenAtStart };
          onStart(started.user, started.assistantId);
        },
      });
      let lastStats = performance.now();
      for await (const ev of events) {
        if (ev.type === 'prefill') {
          this.emit({ event: 'prefillProgress', payload: { sessionId, done: ev.done, total: ev.total } });
          if (s.streaming) s.streaming.promptFed = ev.done;
          // what the model sees moves as a long paste streams through the cache
          if (performance.now() - lastStats > 500 || ev.done === ev.total) {
            lastStats = performance.now();
            this.emit({ event: 'stats', payload: this.stats(s) });
          }
        }
        if (ev.type === 'token') {
          text += ev.text;
          if (s.streaming) s.streaming.generated++;
          this.emit({ event: 'token', payload: { sessionId, messageId, delta: ev.text } });
          // also at the first token: the prompt is in, and what the model sees has just changed
          if (performance.now() - lastStats > 500 || s.streaming?.generated === 1) {
            lastStats = performance.now();
            this.emit({ event: 'stats', payload: this.stats(s) });
          }
        }
        if (ev.type === 'done') {
          s.tokensPerSecond = ev.tokensPerSecond;
          final = { sessionId, messageId, state: ev.reason === 'cancelled' ? 'stopped' : 'done', text: ev.text };
        }
      }
    } catch (err) {
      if (!messageId) throw err;
      final =
        (err as Error)?.name === 'AbortError'
          ? { sessionId, messageId, state: 'stopped', text }
          : { sessionId, messageId, state: 'error', text, error: (err as Error).message };
    } finally {
      s.busy = null;
      s.streaming = undefined;
      if (final) this.emit({ event: 'messageDone', payload: final });
      this.emit({ event: 'stats', payload: this.stats(s) });
    }
  }

  /** The session, refused while it answers or runs an A/B; what comes next moves the conversation on. */
  private async idleSession(id: string): Promise<OpenSession> {
    const s = await this.session(id);
    this.assertIdle(s);
    // whatever the caller does next changes the conversation or its cache: an earlier A/B run's branches no longer fit
    this.forgetAbBranches(s.chat.session.id);
    return s;
  }

  private assertIdle(s: OpenSession): void {
    if (s.abId) throw new CoreRequestError('This session is running an A/B comparison; stop it or wait for it to finish.');
    if (s.busy) throw new CoreRequestError('This session is still answering; stop it or wait for the answer to finish.');
  }

  // ── A/B runs of cache policies ──────────────────────────────────────────────────────────────────
  // ab.start forks the session's cache into two branches and streams both answers (abToken) in the background;
  // the session is busy until abDone (run stored, branches kept in pendingAb) or abAborted. ab.vote stores the
  // vote and, with continueWith, continues the session from the chosen branch (PersistentChat.adoptBranch).
  // Branches are dropped when the session moves on (any other request through idleSession), on a newer run,
  // on delete and on close.

  async abStart(p: { sessionId: string; a: PolicyConfig; b: PolicyConfig; prompt: string; maxTokens?: number }): Promise<AbStartResult> {
    const s = await this.idleSession(p.sessionId);
    const abId = randomUUID();
    const abort = new AbortController();
    s.busy = abort;
    s.abId = abId;
    // after this call's answer has gone out, so the caller knows the id before the first event
    setImmediate(() => void this.runAbRun(s, p, abId, abort));
    return { abId };
  }

  async abStop(p: { sessionId: string }): Promise<void> {
    const open = this.open.get(Number(p.sessionId));
    const s = open ? await open.catch(() => null) : null;
    if (s?.abId) s.busy?.abort();
  }

  async abVote(p: { runId: string; vote: AbVote | null; continueWith?: boolean }): Promise<AbVoteResult> {
    const runId = Number(p.runId);
    if (!p.continueWith) {
      const run = this.store.voteAbRun(runId, p.vote);
      const session = run.sessionId === null ? null : this.store.getSession(run.sessionId);
      return { run: this.apiAbRun(run), continued: false, session: session ? toApiSession(session, this.messageCount(session.id)) : null, statement: null };
    }
    if (p.vote !== 'a' && p.vote !== 'b') throw new CoreRequestError('Vote for A or B to continue the chat from that answer.');
    const pending = this.pendingAb.get(runId);
    if (!pending) {
      throw new CoreRequestError(
        'The chat can no longer continue from this comparison: it has moved on since (or the app was restarted). Your vote was not changed.',
      );
    }
    const s = await this.session(String(pending.sessionId));
    this.assertIdle(s);
    const last = this.store.listMessagesBefore(pending.sessionId, Number.MAX_SAFE_INTEGER, 1)[0];
    if (s.chat.chat !== pending.base.chat || (last?.id ?? null) !== pending.base.lastMessageId) {
      this.forgetAbBranches(pending.sessionId);
      throw new CoreRequestError('The chat can no longer continue from this comparison: it has moved on since. Your vote was not changed.');
    }
    const winner = pending[p.vote];
    const loser = pending[p.vote === 'a' ? 'b' : 'a'];
    const metrics = pending.metrics[p.vote];
    const abort = new AbortController();
    s.busy = abort; // nothing else may touch the session while it changes hands
    try {
      const run = this.store.voteAbRun(runId, p.vote);
      const old = s.chat.chat;
      await s.chat.adoptBranch(winner.chat, pending.prompt, metrics.answer);
      this.pendingAb.delete(runId);
      releaseBranch(loser);
      if (old !== winner.chat) old.engine.policy.reset(); // its KV may live on the GPU: free it now
      s.tokensPerSecond = metrics.tokensPerSecond;
      const statement = `The chat continues from ${p.vote.toUpperCase()}: ${describePolicy(winner.chat.engine.policy.spec)}.`;
      return { run: this.apiAbRun(run), continued: true, session: toApiSession(s.chat.session, this.messageCount(s.chat.session.id)), statement };
    } finally {
      s.busy = null;
      this.emit({ event: 'stats', payload: this.stats(s) });
    }
  }

  async abHistory(p?: { sessionId?: string }): Promise<AbHistoryResult> {
    const stored = this.store.listAbRuns(p?.sessionId === undefined ? undefined : Number(p.sessionId));
    const runs = stored.map(toApiAbRun).filter((r) => r !== null);
    return { runs, summary: summarizeAbRuns(runs) };
  }

  /** Runs one comparison to its end; every outcome ends in abDone or abAborted, sent once the session is idle. */
  private async runAbRun(
    s: OpenSession,
    p: { sessionId: string; a: PolicyConfig; b: PolicyConfig; prompt: string; maxTokens?: number },
    abId: string,
    abort: AbortController,
  ): Promise<void> {
    const sessionId = p.sessionId;
    const { signal } = abort;
    const branches: AbBranch[] = [];
    let final: PerpetuaEvent;
    try {
      const base = { chat: s.chat.chat, lastMessageId: this.store.listMessagesBefore(s.chat.session.id, Number.MAX_SAFE_INTEGER, 1)[0]?.id ?? null };
      branches.push(await AbBranch.create('a', s.chat, toSpec(p.a)));
      signal.throwIfAborted();
      branches.push(await AbBranch.create('b', s.chat, toSpec(p.b)));
      signal.throwIfAborted();
      const [a, b] = branches;
      let result: { a: AbBranchMetrics; b: AbBranchMetrics } | null = null;
      for await (const ev of runAb(a, b, p.prompt, {
        maxTokens: p.maxTokens ?? this.maxAnswerTokens,
        chunk: 256,
        signal,
        sampling: { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.1 },
      })) {
        if (ev.type === 'token') this.emit({ event: 'abToken', payload: { sessionId, abId, branch: ev.branch, delta: ev.text } });
        else if (ev.type === 'fork') this.emit({ event: 'abProgress', payload: { sessionId, abId, branch: ev.branch, phase: 'fork', done: 0, total: 0, fork: ev.how } });
        else if (ev.type === 'prefill' || ev.type === 'scoring') {
          this.emit({ event: 'abProgress', payload: { sessionId, abId, branch: ev.branch, phase: ev.type, done: ev.done, total: ev.total } });
        } else if (ev.type === 'done') result = { a: ev.a, b: ev.b };
      }
      signal.throwIfAborted(); // a stopped run ends early (partial answers, partial scores): it is not stored
      if (!result) throw new Error('The A/B run ended without a result.');
      const run = this.store.recordAbRun({
        sessionId: s.chat.session.id,
        prompt: p.prompt,
        branchA: { policy: formatPolicy(result.a.policy), answer: result.a.answer },
        branchB: { policy: formatPolicy(result.b.policy), answer: result.b.answer },
        metrics: { a: result.a, b: result.b },
      });
      this.forgetAbBranches(s.chat.session.id);
      this.pendingAb.set(run.id, { sessionId: s.chat.session.id, prompt: p.prompt, a, b, metrics: result, base });
      branches.length = 0; // kept for the vote
      final = { event: 'abDone', payload: { sessionId, abId, runId: String(run.id), a: toApiMetrics(result.a), b: toApiMetrics(result.b) } };
    } catch (err) {
      final = signal.aborted
        ? { event: 'abAborted', payload: { sessionId, abId, state: 'stopped' } }
        : { event: 'abAborted', payload: { sessionId, abId, state: 'error', error: (err as Error)?.message || 'The A/B run failed.' } };
    } finally {
      for (const b of branches) releaseBranch(b);
      s.busy = null;
      s.abId = null;
    }
    this.emit(final);
  }

  private apiAbRun(run: Parameters<typeof toApiAbRun>[0]) {
    const r = toApiAbRun(run);
    if (!r) throw new CoreRequestError('This A/B run was stored in a form this version cannot read.');
    return r;
  }

  /** Drops the kept branches of a session's runs (their KV may hold GPU memory). */
  private forgetAbBranches(sessionId: number): void {
    for (const [runId, pending] of this.pendingAb) {
      if (pending.sessionId !== sessionId) continue;
      this.pendingAb.delete(runId);
      releaseBranch(pending.a);
      releaseBranch(pending.b);
    }
  }

  private stats(s: OpenSession): Stats {
    const { engine } = s.chat;
    const policy = engine.policy;
    return {
      sessionId: String(s.chat.session.id),
      tokensPerSecond: s.tokensPerSecond,
      cacheFill: policy.length,
      cacheCapacity: Number.isFinite(policy.capacity) ? policy.capacity : engine.model.config.maxPositions,
      kvBytes: policy.kvBytes(),
      executionProvider: engine.model.provider,
      providerFallbackReason: engine.model.providerFallbackReason ?? undefined,
      // counted as tokens arrive and kept in the store: a rebuilt cache re-reads tokens, it does not see new ones
      // the store counts a turn when it ends; a turn in flight adds what it has fed so far
      totalTokensSeen: s.chat.session.totalTokensSeen + (s.streaming ? Math.max(0, policy.totalTokensSeen - s.streaming.seenAtStart) : 0),
      policy: toConfig(policy.spec),
      view: this.cacheView(s),
    };
  }

  private cacheView(s: OpenSession): CacheView {
    s.counter ??= new StreamTokenCounter(s.chat.engine.model);
    return sessionCacheView(this.store, s.chat.session, s.chat.engine.policy, s.counter, s.streaming);
  }

  async close(): Promise<void> {
    await this.downloads.close();
    for (const open of this.open.values()) (await open.catch(() => null))?.busy?.abort();
    for (const sessionId of new Set([...this.pendingAb.values()].map((p) => p.sessionId))) this.forgetAbBranches(sessionId);
    for (const m of this.models.values()) await (await m.catch(() => null))?.dispose();
    this.store.db.close();
  }
}

function releaseBranch(b: AbBranch): void {
  b.chat.engine.policy.reset();
}

function toApiSession(s: Session, messageCount: number): ApiSession {
  return {
    id: String(s.id),
    name: s.name,
    modelId: String(s.modelId),
    policy: toConfig(sessionPolicy(s)),
    systemPrompt: s.systemPrompt || null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    messageCount,
  };
}

function toApiMessage(m: Message): ApiMessage {
  return { id: String(m.id), sessionId: String(m.sessionId), seq: m.seq, role: m.role, text: m.text, state: m.state, createdAt: m.createdAt };
}

function modelKey(id: number, provider: ExecutionProvider, variant: string | undefined): string {
  return `${id}:${provider}:${variant ?? ''}`;
}

/** The folder's export variants for the model manager (none for a folder that cannot be read any more). */
function variantsOf(dir: string): ModelVariant[] | undefined {
  try {
    return folderVariants(dir).map((v) => ({ name: v.name, dtype: v.dtype, kvDtype: v.kvDtype, sizeBytes: v.sizeBytes }));
  } catch {
    return undefined;
  }
}

function onnxSize(dir: string): number | undefined {
  try {
    const onnx = join(dir, 'onnx');
    return readdirSync(onnx).reduce((n, f) => n + statSync(join(onnx, f)).size, 0);
  } catch {
    return undefined;
  }
}
