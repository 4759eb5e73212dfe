/**
 * The typed API of Perpetua.
 * - `PerpetuaApi`: what the core implements (CoreService), one method per wire method; each takes one
 *   params object (validated before it is called) and resolves to its result.
 * - `PerpetuaEvents`: the events the core pushes (answers stream as events).
 * - `PerpetuaBridge`: what the renderer sees as `window.perpetua`: the same methods plus `on()`.
 */
import type { EventName, MethodName, ParamsOf, ResultOf } from './methods.js';
import type {
  AbAbortedEvent,
  AbDoneEvent,
  AbHistoryResult,
  AbProgressEvent,
  AbStartResult,
  AbTokenEvent,
  AbVote,
  AbVoteResult,
  ChatRegenerateResult,
  ChatSendResult,
  CoreRestartedEvent,
  ErrorEvent,
  ExecutionProvider,
  MessageDoneEvent,
  MessagesPageResult,
  ModelInfo,
  PolicyConfig,
  PolicySetResult,
  SinkReport,
  PrefillProgressEvent,
  SearchHit,
  Session,
  SessionsOpenResult,
  StatsEvent,
  TokenEvent,
} from './schemas.js';
import type { CatalogItem, DownloadInfo } from './download-schemas.js';

export interface PerpetuaEvents {
  /** A piece of an answer being written. */
  token: TokenEvent;
  /** Prefill of a (long) user message: `done` of `total` tokens. */
  prefillProgress: PrefillProgressEvent;
  /** An answer finished (done), was stopped, or failed. */
  messageDone: MessageDoneEvent;
  /** Cache and speed figures for a session (sent after each answer, policy change and periodically while decoding). */
  stats: StatsEvent;
  /** The core process died and was restarted (sent by the shell, never by the core). */
  coreRestarted: CoreRestartedEvent;
  /** A failure not tied to a request (e.g. generation crashed). */
  error: ErrorEvent;
  /** A piece of one branch's answer in an A/B run. */
  abToken: AbTokenEvent;
  /** An A/B branch got its cache (fork), reads the prompt (prefill) or is being scored (scoring). */
  abProgress: AbProgressEvent;
  /** An A/B run finished and was stored: both branches' answers and measurements. */
  abDone: AbDoneEvent;
  /** An A/B run was stopped or failed; nothing was stored. */
  abAborted: AbAbortedEvent;
  /** A download moved on (progress, at most a few times a second) or changed state. */
  download: DownloadInfo;
}

/** One event as it travels: `{ event, payload }`, discriminated by name. */
export type PerpetuaEvent = { [K in EventName]: { event: K; payload: PerpetuaEvents[K] } }[EventName];
export type PerpetuaEventListener = (e: PerpetuaEvent) => void;

export interface PerpetuaApi {
  // models
  modelsList(): Promise<ModelInfo[]>;
  /** Import (register) a model folder (config.json + ONNX + tokenizer). Rejects with a sentence if unusable. */
  modelsImport(p: { dir: string; variant?: string }): Promise<ModelInfo>;
  modelsSetProvider(p: { modelId: string; provider: ExecutionProvider }): Promise<ModelInfo>;
  /** Which export variant the model runs (null: the best one for its provider); sessions reopen on it. */
  modelsSetVariant(p: { modelId: string; variant: string | null }): Promise<ModelInfo>;
  /** Converts a Hugging Face checkpoint folder (safetensors) into an ONNX model folder and imports it. */
  modelsConvert(p: { dir: string }): Promise<ModelInfo>;

  // catalog and Hugging Face downloads
  /** The curated models with the variant, size and memory fit for the provider (default cpu). */
  catalogList(p?: { provider?: ExecutionProvider }): Promise<CatalogItem[]>;
  /** Downloads in progress, paused (also from before a restart), failed, or done in this run. */
  downloadsList(): Promise<DownloadInfo[]>;
  /** Starts (or resumes) downloading a repo's variant; progress arrives as `download` events; once verified it is imported. */
  downloadsStart(p: { repo: string; revision?: string; variant?: string; provider?: ExecutionProvider }): Promise<DownloadInfo>;
  downloadsPause(p: { id: string }): Promise<DownloadInfo>;
  downloadsResume(p: { id: string }): Promise<DownloadInfo>;
  /** Stops a download and deletes what it fetched. */
  downloadsCancel(p: { id: string }): Promise<void>;

  // sessions
  sessionsList(): Promise<Session[]>;
  sessionsCreate(p: { name: string; modelId: string; policy: PolicyConfig; systemPrompt?: string }): Promise<Session>;
  /** The session, its last `limit` messages (oldest first) and current stats. */
  sessionsOpen(p: { id: string; limit?: number }): Promise<SessionsOpenResult>;
  sessionsRename(p: { id: string; name: string }): Promise<Session>;
  sessionsDelete(p: { id: string }): Promise<void>;
  /** Full-text search over session names and messages. */
  sessionsSearch(p: { text: string; limit?: number }): Promise<SearchHit[]>;
  sessionsExportMarkdown(p: { id: string }): Promise<string>;

  // messages
  /** Older messages: seq < beforeSeq, the `limit` closest, oldest first. */
  messagesPage(p: { sessionId: string; beforeSeq: number; limit: number }): Promise<MessagesPageResult>;

  // chat
  /** Stores the user message and starts the answer; resolves at once, the answer streams as events. */
  chatSend(p: { sessionId: string; text: string }): Promise<ChatSendResult>;
  /** Stops the answer being written (it ends with state "stopped"); no-op when idle. */
  chatStop(p: { sessionId: string }): Promise<void>;
  /** Replaces the last assistant answer with a new one (streams as events). */
  chatRegenerate(p: { sessionId: string }): Promise<ChatRegenerateResult>;

  // policy
  /** Switches the cache policy mid-session; the statement says what happened to the cache. */
  policySet(p: { sessionId: string; policy: PolicyConfig }): Promise<PolicySetResult>;

  // inspection
  /** How much each layer's heads attend to the first tokens of what the session's cache holds (a graph run). */
  inspectSinks(p: { sessionId: string }): Promise<SinkReport>;

  // A/B runs of cache policies
  /**
   * Forks the session's cache into two branches (policies a and b), sends the prompt to both and streams both
   * answers (abToken), then scores the conversation under each policy; resolves at once. The session is busy
   * until abDone (the run is stored) or abAborted.
   */
  abStart(p: { sessionId: string; a: PolicyConfig; b: PolicyConfig; prompt: string; maxTokens?: number }): Promise<AbStartResult>;
  /** Stops the session's A/B run (abAborted, state "stopped"); no-op when none runs. */
  abStop(p: { sessionId: string }): Promise<void>;
  /**
   * Stores (or with null clears) the vote on a run. With `continueWith` and a vote of a or b, the session
   * continues from that branch: the prompt and that answer join the transcript, its cache and policy become
   * the session's. Only the newest run of a session, before the session moved on, can be continued from.
   */
  abVote(p: { runId: string; vote: AbVote | null; continueWith?: boolean }): Promise<AbVoteResult>;
  /** Stored runs (newest first; one session's or all) and a summary per policy: wins and median measurements. */
  abHistory(p?: { sessionId?: string }): Promise<AbHistoryResult>;

  /** Receive events; returns an unsubscribe function. Each router (connection) subscribes once. */
  subscribe(listener: PerpetuaEventListener): () => void;
}

export type PerpetuaMethods = Omit<PerpetuaApi, 'subscribe'>;

/** What the typed client offers: the API's methods plus `on()`. */
export interface PerpetuaClientBridge extends PerpetuaMethods {
  on<K extends EventName>(event: K, listener: (payload: PerpetuaEvents[K]) => void): () => void;
}

/** What only the shell (Electron main, or the web test host) can do for the page. */
export interface ShellBridge {
  /** Opens the system's folder picker; null when cancelled. */
  pickFolder(): Promise<string | null>;
}

/** `window.perpetua` in the renderer. */
export interface PerpetuaBridge extends PerpetuaClientBridge, ShellBridge {}

// --- compile-time checks that the interface and the method table agree -------------------------
type HandlerOf<M extends MethodName> = import('./methods.js').MethodTable[M]['handler'];
type NormVoid<R> = [R] extends [void] ? undefined : R;
type Check<M extends MethodName> = PerpetuaMethods[HandlerOf<M>] extends (...args: infer A) => Promise<infer R>
  ? [ResultOf<M>] extends [NormVoid<R>]
    ? [NormVoid<R>] extends [ResultOf<M>]
      ? A extends [] | [ParamsOf<M>] | [ParamsOf<M>?]
        ? true
        : { params_mismatch: M }
      : { result_mismatch: M }
    : { result_mismatch: M }
  : { not_a_method: M };
type AllChecks = { [M in MethodName]: Check<M> };
type Failing = { [M in MethodName]: AllChecks[M] extends true ? never : M }[MethodName];
/** If this line errors, `PerpetuaApi` and `methods` disagree on the method(s) named in the error. */
export const _apiMatchesTable: [Failing] extends [never] ? true : Failing = true;
