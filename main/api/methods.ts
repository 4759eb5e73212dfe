/**
 * The method table: wire name → implementation method name, params schema, and either a result schema (a call:
 * one answer) or a packet schema (a channel: packets until a final one). The router (core side) and the client
 * (preload / web shim) both validate against it; the TypeScript interfaces are derived from it (perpetua-api.ts).
 */
import { z } from 'zod';
import { AbHistoryParams, AbHistoryResult, AbStartParams, AbStopParams, AbVoteParams, AbVoteResult } from './ab-schemas.js';
import { AbPacketSchema, ChatPacketSchema, ModelJobPacketSchema, PolicyPacketSchema } from './packets.js';
import {
  ChatEditParams,
  ChatRegenerateParams,
  ChatSendParams,
  ChatSessionParams,
  ChatSwitchBranchParams,
  ChatSwitchBranchResult,
  CoreRestartedEventSchema,
  InterruptedChatSchema,
  ErrorEventSchema,
  MigrationEventSchema,
  MessagesDeleteParams,
  MessagesDeleteResult,
  MessagesPageParams,
  MessagesRestoreParams,
  MessagesPageResult,
  ModelInfoSchema,
  ModelsImportParams,
  ModelsSetProviderParams,
  ModelsSetVariantParams,
  NoParams,
  PolicySetParams,
  SearchHitSchema,
  SessionIdParams,
  SessionSchema,
  SessionsOpenParams,
  SessionsOpenResult,
  ModelsRemoveParams,
  ModelsRemoveResult,
  SessionsSetModelParams,
  SessionsRenameParams,
  SessionsSearchParams,
  SinkReportSchema,
  VoidResult,
} from './schemas.js';
import { ImportReportSchema, SessionsImportParams } from './import-schemas.js';
import { ChatSettingsSchema, SessionsCreateSettingsParams, SessionsSetGenerationParams, SessionsSetSystemPromptParams, SystemPromptSetResult } from './generation-schemas.js';
import { AppSettingsSchema, PresetIdParams, PresetSchema, PresetsSaveParams, SessionsSetPinnedParams, SettingsSetParams, SnapshotUsageSchema } from './settings-schemas.js';
import { ChatCompleteParams, CompletionPacketSchema, TextCompleteParams } from './completion-schemas.js';
import { CatalogItemSchema, CatalogListParams, DownloadIdParams, DownloadInfoSchema, DownloadsStartParams, ModelsConvertParams } from './download-schemas.js';

function call<H extends string, P extends z.ZodType, R extends z.ZodType>(handler: H, params: P, result: R) {
  return { kind: 'call', handler, params, result } as const;
}

function channel<H extends string, P extends z.ZodType, K extends z.ZodType<{ type: string }>>(handler: H, params: P, packet: K) {
  return { kind: 'channel', handler, params, packet } as const;
}

export const methods = {
  'models.list': call('modelsList', NoParams, z.array(ModelInfoSchema)),
  'models.import': call('modelsImport', ModelsImportParams, ModelInfoSchema),
  /** Imports a model folder as models.import does, with progress while its weights are hashed; cancellable. */
  'models.add': channel('modelsAdd', ModelsImportParams, ModelJobPacketSchema),
  'models.setProvider': call('modelsSetProvider', ModelsSetProviderParams, ModelInfoSchema),
  /** Which export variant the model runs (null: the best one for its provider); its sessions reopen on it. */
  'models.setVariant': call('modelsSetVariant', ModelsSetVariantParams, ModelInfoSchema),
  /** Converts a Hugging Face checkpoint folder (safetensors) into an ONNX model folder and imports it, with progress; cancellable. */
  'models.convert': channel('modelsConvert', ModelsConvertParams, ModelJobPacketSchema),

  /** The curated models with the variant, size and memory fit for the provider (default cpu). */
  'catalog.list': call('catalogList', CatalogListParams, z.array(CatalogItemSchema)),
  /** Downloads in progress, paused (also from before a restart), failed, or done in this run. */
  'downloads.list': call('downloadsList', NoParams, z.array(DownloadInfoSchema)),
  /** Starts (or resumes) downloading a repo's variant; progress arrives as `download` events; once verified it is imported. */
  'downloads.start': call('downloadsStart', DownloadsStartParams, DownloadInfoSchema),
  'downloads.pause': call('downloadsPause', DownloadIdParams, DownloadInfoSchema),
  'downloads.resume': call('downloadsResume', DownloadIdParams, DownloadInfoSchema),
  /** Stops a download and deletes what it fetched. */
  'downloads.cancel': call('downloadsCancel', DownloadIdParams, VoidResult),

  /** Removes a model no chat uses (refused otherwise); a folder in the app's models folder is deleted with it. */
  'models.remove': call('modelsRemove', ModelsRemoveParams, ModelsRemoveResult),

  'sessions.list': call('sessionsList', NoParams, z.array(SessionSchema)),
  /** The chats the engine before this one froze or died in (opening one, writing an answer): not to be reopened by themselves. */
  'sessions.interrupted': call('sessionsInterrupted', NoParams, z.array(InterruptedChatSchema)),
  'sessions.create': call('sessionsCreate', SessionsCreateSettingsParams, SessionSchema),
  'sessions.open': call('sessionsOpen', SessionsOpenParams, SessionsOpenResult),
  'sessions.rename': call('sessionsRename', SessionsRenameParams, SessionSchema),
  /** A copy of the chat as shown (settings and the branch it shows) under a free name, "Name (copy)". */
  'sessions.duplicate': call('sessionsDuplicate', SessionIdParams, SessionSchema),
  /** Moves a chat to another model (e.g. its own is missing): the transcript is re-read with it; refused (busy) while it works. */
  'sessions.setModel': call('sessionsSetModel', SessionsSetModelParams, SessionsOpenResult),
  'sessions.delete': call('sessionsDelete', SessionIdParams, VoidResult),
  /**
   * Frees a chat another Perpetua process left locked (it crashed, or its machine's lease has not run out): the answer
   * it left streaming is marked cut off; refused (session_holder_running) while that process still runs on this computer.
   */
  'sessions.takeOver': call('sessionsTakeOver', SessionIdParams, VoidResult),
  /** Pins a chat (the list shows pinned chats first) or unpins it. */
  'sessions.setPinned': call('sessionsSetPinned', SessionsSetPinnedParams, SessionSchema),
  'sessions.search': call('sessionsSearch', SessionsSearchParams, z.array(SearchHitSchema)),
  /**
   * Imports conversations from a file (ChatGPT's conversations.json, Perpetua's JSONL export) as chats of a model,
   * every branch kept; all or nothing. The report lists what was left out (images, tool calls…) and why.
   */
  'sessions.import': call('sessionsImport', SessionsImportParams, ImportReportSchema),
  /** The chat as Markdown: the branch shown, then each other branch ("Other branches") headed with where it forks. */
  'sessions.exportMarkdown': call('sessionsExportMarkdown', SessionIdParams, z.string()),
  /** The chat's generation settings, the model's defaults for what it leaves out, and its system prompt. */
  'sessions.settings': call('sessionsSettings', SessionIdParams, ChatSettingsSchema),
  /** Replaces the chat's generation settings ({}: the model's defaults); the next answer uses them. */
  'sessions.setGeneration': call('sessionsSetGeneration', SessionsSetGenerationParams, ChatSettingsSchema),
  /**
   * Changes the system prompt. It is the start of the cache (its first tokens are the attention sinks), so the
   * cache is rebuilt from the transcript; the session is busy meanwhile. The statement says what happened.
   */
  'sessions.setSystemPrompt': call('sessionsSetSystemPrompt', SessionsSetSystemPromptParams, SystemPromptSetResult),

  /** The app-wide settings: defaults for new chats, the provider new models run on, the language, the snapshot budget. */
  'settings.get': call('settingsGet', NoParams, AppSettingsSchema),
  /** Changes the settings given. A smaller snapshot budget drops the least recently used chats' snapshots at once. */
  'settings.set': call('settingsSet', SettingsSetParams, AppSettingsSchema),
  /** What all chats' KV snapshots take on disk now, and the budget. */
  'snapshots.usage': call('snapshotsUsage', NoParams, SnapshotUsageSchema),
  /** The built-in presets, then the user's, each a system prompt with generation settings. */
  'presets.list': call('presetsList', NoParams, z.array(PresetSchema)),
  /** Saves a preset (one with the same name is replaced). */
  'presets.save': call('presetsSave', PresetsSaveParams, PresetSchema),
  /** Deletes one of the user's presets (built-in ones cannot be deleted). */
  'presets.delete': call('presetsDelete', PresetIdParams, VoidResult),

  'messages.page': call('messagesPage', MessagesPageParams, MessagesPageResult),
  /**
   * Deletes one message: only it (the messages after it follow the one before it), or a version with the replies under
   * it. The chat's snapshots go and its cache is re-read from the transcript; refused (busy) while the chat works.
   */
  'messages.delete': call('messagesDelete', MessagesDeleteParams, MessagesDeleteResult),
  /** Puts a deleted message back (the cache is re-read again); refused (stale) once the chat has moved on. */
  'messages.restore': call('messagesRestore', MessagesRestoreParams, VoidResult),

  /** Stores the user message and streams the answer. */
  'chat.send': channel('chatSend', ChatSendParams, ChatPacketSchema),
  /** Stops whatever answer the session writes (it ends "stopped"), whoever asked for it; a no-op when idle. */
  'chat.stop': call('chatStop', ChatSessionParams, VoidResult),
  /** Writes a new version of an answer (default the last); the old one stays on its own branch. */
  'chat.regenerate': channel('chatRegenerate', ChatRegenerateParams, ChatPacketSchema),
  /** Writes more of the last answer (one cut at its length limit) as a new message after it; refused when the chat does not end with an answer. */
  'chat.continue': channel('chatContinue', ChatSessionParams, ChatPacketSchema),
  /** Stores a new version of a user message (the old one stays on its own branch) and streams its answer. */
  'chat.edit': channel('chatEdit', ChatEditParams, ChatPacketSchema),
  /** Shows another branch (a version of a message and the newest messages under it); the cache is rebuilt for it. */
  'chat.switchBranch': call('chatSwitchBranch', ChatSwitchBranchParams, ChatSwitchBranchResult),

  /**
   * A whole conversation, as OpenAI-style clients send it: matched to the stored chat whose transcript starts it (only
   * the rest is read), else a new chat (or a branch of the one it shares a start with); the answer streams and is stored.
   */
  'chat.complete': channel('chatComplete', ChatCompleteParams, CompletionPacketSchema),
  /** A plain-text continuation of a prompt (OpenAI's /v1/completions): streamed, not stored. */
  'text.complete': channel('textComplete', TextCompleteParams, CompletionPacketSchema),

  /**
   * Switches the cache policy mid-session: progress while the transcript is re-read, then the statement of what
   * happened to the cache. Cancelled, the session keeps its old policy and cache.
   */
  'policy.set': channel('policySet', PolicySetParams, PolicyPacketSchema),

  /**
   * Forks the session's cache into two branches (policies a and b), streams both answers, then scores the
   * conversation under each policy and stores the run. The session is busy until the channel ends.
   */
  /** How much each layer's heads attend to the first tokens of what the session's cache holds (a graph run). */
  'inspect.sinks': call('inspectSinks', ChatSessionParams, SinkReportSchema),

  'ab.start': channel('abStart', AbStartParams, AbPacketSchema),
  /** Stops the session's A/B run (its channel ends "stopped"); a no-op when none runs. */
  'ab.stop': call('abStop', AbStopParams, VoidResult),
  /**
   * Stores (or with null clears) the vote on a run. With `continueWith` and a vote of a or b, the session
   * continues from that branch. Only the newest run of a session, before the session moved on, can be continued from.
   */
  'ab.vote': call('abVote', AbVoteParams, AbVoteResult),
  'ab.history': call('abHistory', AbHistoryParams, AbHistoryResult),
} as const;

export type MethodTable = typeof methods;
export type MethodName = keyof MethodTable;
export type CallName = { [M in MethodName]: MethodTable[M]['kind'] extends 'call' ? M : never }[MethodName];
export type ChannelName = Exclude<MethodName, CallName>;
export type HandlerOf<M extends MethodName> = MethodTable[M]['handler'];
/** Params as the caller writes them (before defaults/transforms). */
export type ParamsOf<M extends MethodName> = z.input<MethodTable[M]['params']>;
/** Params as the implementation receives them (validated). */
export type ValidParamsOf<M extends MethodName> = z.output<MethodTable[M]['params']>;
/** Result of a call as the caller receives it (after parsing). */
export type ResultOf<M extends CallName> = z.output<MethodTable[M]['result']>;
/** A packet of a channel. */
export type PacketOf<M extends ChannelName> = z.output<MethodTable[M]['packet']>;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methods, name);
}

export const methodNames = Object.keys(methods) as MethodName[];

/** Events belong to no request (answers stream on their channel). */
export const events = {
  /** The core process died and was restarted (sent by the shell, never by the core). */
  coreRestarted: CoreRestartedEventSchema,
  /** A failure not tied to a request (e.g. a session's snapshot could not be used and it was rebuilt). */
  error: ErrorEventSchema,
  /** A download moved on (progress, at most a few times a second) or changed state. */
  download: DownloadInfoSchema,
  /** The core upgrades the database before it answers (sent by the shell, from the core's start-up). */
  migration: MigrationEventSchema,
} as const;

export type EventTable = typeof events;
export type EventName = keyof EventTable;
export type EventOf<K extends EventName> = z.output<EventTable[K]>;

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

export const eventNames = Object.keys(events) as EventName[];
