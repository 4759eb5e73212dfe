/**
 * The method table: wire name → implementation method name, params schema, result schema.
 * The router (core side) and the client (preload / web shim) both validate against it.
 */
import { z } from 'zod';
import {
  AbAbortedEventSchema,
  AbDoneEventSchema,
  AbHistoryParams,
  AbHistoryResult,
  AbProgressEventSchema,
  AbStartParams,
  AbStartResult,
  AbStopParams,
  AbTokenEventSchema,
  AbVoteParams,
  AbVoteResult,
  ChatRegenerateResult,
  ChatSendParams,
  ChatSendResult,
  ChatSessionParams,
  CoreRestartedEventSchema,
  ErrorEventSchema,
  MessageDoneEventSchema,
  MessagesPageParams,
  MessagesPageResult,
  ModelInfoSchema,
  ModelsImportParams,
  ModelsSetProviderParams,
  ModelsSetVariantParams,
  NoParams,
  PolicySetParams,
  PolicySetResult,
  PrefillProgressEventSchema,
  SearchHitSchema,
  SessionIdParams,
  SessionSchema,
  SessionsCreateParams,
  SessionsOpenParams,
  SessionsOpenResult,
  SessionsRenameParams,
  SessionsSearchParams,
  SinkReportSchema,
  StatsEventSchema,
  TokenEventSchema,
  VoidResult,
} from './schemas.js';
import {
  CatalogItemSchema,
  CatalogListParams,
  DownloadIdParams,
  DownloadInfoSchema,
  DownloadsStartParams,
  ModelsConvertParams,
} from './download-schemas.js';

function method<H extends string, P extends z.ZodType, R extends z.ZodType>(handler: H, params: P, result: R) {
  return { handler, params, result } as const;
}

export const methods = {
  'models.list': method('modelsList', NoParams, z.array(ModelInfoSchema)),
  'models.import': method('modelsImport', ModelsImportParams, ModelInfoSchema),
  'models.setProvider': method('modelsSetProvider', ModelsSetProviderParams, ModelInfoSchema),
  'models.setVariant': method('modelsSetVariant', ModelsSetVariantParams, ModelInfoSchema),
  'models.convert': method('modelsConvert', ModelsConvertParams, ModelInfoSchema),

  'catalog.list': method('catalogList', CatalogListParams, z.array(CatalogItemSchema)),
  'downloads.list': method('downloadsList', NoParams, z.array(DownloadInfoSchema)),
  'downloads.start': method('downloadsStart', DownloadsStartParams, DownloadInfoSchema),
  'downloads.pause': method('downloadsPause', DownloadIdParams, DownloadInfoSchema),
  'downloads.resume': method('downloadsResume', DownloadIdParams, DownloadInfoSchema),
  'downloads.cancel': method('downloadsCancel', DownloadIdParams, VoidResult),

  'sessions.list': method('sessionsList', NoParams, z.array(SessionSchema)),
  'sessions.create': method('sessionsCreate', SessionsCreateParams, SessionSchema),
  'sessions.open': method('sessionsOpen', SessionsOpenParams, SessionsOpenResult),
  'sessions.rename': method('sessionsRename', SessionsRenameParams, SessionSchema),
  'sessions.delete': method('sessionsDelete', SessionIdParams, VoidResult),
  'sessions.search': method('sessionsSearch', SessionsSearchParams, z.array(SearchHitSchema)),
  'sessions.exportMarkdown': method('sessionsExportMarkdown', SessionIdParams, z.string()),

  'messages.page': method('messagesPage', MessagesPageParams, MessagesPageResult),

  'chat.send': method('chatSend', ChatSendParams, ChatSendResult),
  'chat.stop': method('chatStop', ChatSessionParams, VoidResult),
  'chat.regenerate': method('chatRegenerate', ChatSessionParams, ChatRegenerateResult),

  'policy.set': method('policySet', PolicySetParams, PolicySetResult),

  'inspect.sinks': method('inspectSinks', ChatSessionParams, SinkReportSchema),

  'ab.start': method('abStart', AbStartParams, AbStartResult),
  'ab.stop': method('abStop', AbStopParams, VoidResult),
  'ab.vote': method('abVote', AbVoteParams, AbVoteResult),
  'ab.history': method('abHistory', AbHistoryParams, AbHistoryResult),
} as const;

export type MethodTable = typeof methods;
export type MethodName = keyof MethodTable;
export type HandlerName = MethodTable[MethodName]['handler'];
/** Params as the caller writes them (before defaults/transforms). */
export type ParamsOf<M extends MethodName> = z.input<MethodTable[M]['params']>;
/** Result as the caller receives it (after parsing). */
export type ResultOf<M extends MethodName> = z.output<MethodTable[M]['result']>;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methods, name);
}

export const methodNames = Object.keys(methods) as MethodName[];

export const events = {
  token: TokenEventSchema,
  prefillProgress: PrefillProgressEventSchema,
  messageDone: MessageDoneEventSchema,
  stats: StatsEventSchema,
  coreRestarted: CoreRestartedEventSchema,
  error: ErrorEventSchema,
  abToken: AbTokenEventSchema,
  abProgress: AbProgressEventSchema,
  abDone: AbDoneEventSchema,
  abAborted: AbAbortedEventSchema,
  download: DownloadInfoSchema,
} as const;

export type EventTable = typeof events;
export type EventName = keyof EventTable;

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

export const eventNames = Object.keys(events) as EventName[];
