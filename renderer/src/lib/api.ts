// Type-only view of the contract in main/api: the renderer never bundles the core's code.
export type {
  AbHistoryResult,
  AbPacket,
  AbMetrics,
  AbPolicySummary,
  AbRun,
  AbSummary,
  AbVote,
  CacheView,
  CatalogItem,
  DownloadInfo,
  Channel,
  ChatPacket,
  PerpetuaBridge,
  PerpetuaEvents,
  ExecutionProvider,
  Message,
  MessageState,
  ModelInfo,
  PolicyConfig,
  PolicyName,
  PolicyPacket,
  ModelJobPacket,
  SearchHit,
  Session,
  SinkReport,
  Stats,
} from '../../../main/api/index.js';

/** Same as MAX_MESSAGE_BYTES in main/api/limits.ts (the bridge enforces it; this is for early feedback). */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
