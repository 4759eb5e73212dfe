/**
 * Runtime schemas (zod) for every payload that crosses a process boundary, and the types inferred
 * from them. Params are strict objects (unknown keys are rejected: they come from the renderer);
 * results and events are plain objects (unknown keys are stripped).
 */
import { z } from 'zod';
import {
  MAX_MESSAGE_BYTES,
  MAX_NAME_CHARS,
  MAX_PAGE_LIMIT,
  MAX_SEARCH_CHARS,
  MAX_SYSTEM_PROMPT_BYTES,
  messageTooLargeError,
} from './limits.js';
import { PolicyConfigSchema } from '../policy/policy-schema.js';
import { SCRIPTS, type Script } from '../shared/token-estimate.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

export const Id = z.string().min(1).max(200);
export const Seq = z.number().int().nonnegative();
/** Milliseconds since the Unix epoch. */
export const Timestamp = z.number().nonnegative();

export const Name = z
  .string()
  .trim()
  .min(1, 'The name is empty.')
  .max(MAX_NAME_CHARS, `The name is longer than ${MAX_NAME_CHARS} characters.`)
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'The name contains control characters (such as NUL or escape).');

/** A text that must fit in `limit` UTF-8 bytes; the error says how large it is. */
export function boundedText(limit: number) {
  return z.string().superRefine((s, ctx) => {
    const err = messageTooLargeError(s, limit);
    if (err) ctx.addIssue({ code: 'custom', message: err });
  });
}

export const ExecutionProviderSchema = z.enum(['cpu', 'webgpu', 'cuda', 'dml', 'coreml']);
export type ExecutionProvider = z.infer<typeof ExecutionProviderSchema>;

/** A cache policy and its parameters: main/policy spells them. */
export { PolicyConfigSchema, PolicyNameSchema } from '../policy/policy-schema.js';
export type { PolicyConfig, PolicyName } from '../policy/policy.js';

export const RoleSchema = z.enum(['system', 'user', 'assistant']);
export type Role = z.infer<typeof RoleSchema>;

/** streaming: the answer is being written; done/stopped/error: final. */
export const MessageStateSchema = z.enum(['streaming', 'done', 'stopped', 'error']);
export type MessageState = z.infer<typeof MessageStateSchema>;
export const FinalMessageStateSchema = z.enum(['done', 'stopped', 'error']);
export type FinalMessageState = z.infer<typeof FinalMessageStateSchema>;

// ---------------------------------------------------------------------------------------------
// Entities

/** One export variant of a model folder (onnx/model_q4.onnx, …), as the model manager offers them. */
export const ModelVariantSchema = z.object({
  /** what to pass as `variant`: fp32, fp16, q4, q4f16, int8, …, merged, or a genai folder's name */
  name: z.string(),
  dtype: z.string(),
  /** the element type the graph keeps its KV cache in */
  kvDtype: z.string(),
  sizeBytes: z.number().nonnegative(),
});
export type ModelVariant = z.infer<typeof ModelVariantSchema>;

export const ModelInfoSchema = z.object({
  id: Id,
  name: z.string(),
  /** Folder the model lives in. */
  path: z.string(),
  /** e.g. "llama", "qwen2" (from config.json). */
  architecture: z.string().optional(),
  /** Largest position the model was trained for (context length). */
  maxPositions: z.number().int().positive().optional(),
  sizeBytes: z.number().nonnegative().optional(),
  /** Provider chosen for this model. */
  provider: ExecutionProviderSchema,
  /** Providers this build/machine can offer for this model. */
  availableProviders: z.array(ExecutionProviderSchema),
  /** The export variant chosen for this model; absent: the best one for the provider. */
  variant: z.string().optional(),
  /** Every export variant the folder holds. */
  variants: z.array(ModelVariantSchema).optional(),
  /** What a new chat on this model starts with: a window that fits its context. */
  defaultPolicy: PolicyConfigSchema.optional(),
  /** Why the chosen provider is not the one that runs (it fell back, usually to CPU): a sentence. */
  providerFallbackReason: z.string().optional(),
  /** The GPU adapter it runs on, where the provider says (WebGPU): vendor and architecture, or "software adapter: …". */
  gpuAdapter: z.string().max(300).optional(),
  /** Set only when the model cannot be used at all (e.g. positions cannot be shifted): a sentence. */
  error: z.string().optional(),
  /** true: its folder is gone (deleted or moved); its chats open read-only until it is located or they switch model */
  missing: z.boolean().optional(),
});
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

export const SessionSchema = z.object({
  id: Id,
  name: z.string(),
  modelId: Id,
  policy: PolicyConfigSchema,
  systemPrompt: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  messageCount: z.number().int().nonnegative(),
  /** 'api': written through the OpenAI-compatible server (`perpetua serve`); absent: the app or the CLI */
  origin: z.enum(['app', 'api']).optional(),
  /** listed first in the chat list */
  pinned: z.boolean().optional(),
});
export type Session = z.infer<typeof SessionSchema>;

/** How fast an answer came: time to first token (from the request, reading the prompt included) and decode speed. */
export const MessageStatsSchema = z.object({
  ttftMs: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  /** tokens generated */
  tokens: z.number().int().nonnegative(),
  /** 'length': the answer stopped at its length limit (the chat's max tokens), not because the model ended it */
  cut: z.literal('length').optional(),
});
export type MessageStats = z.infer<typeof MessageStatsSchema>;

export const MessageSchema = z.object({
  id: Id,
  sessionId: Id,
  /** Order within the session, strictly increasing (along a branch, transcript order). */
  seq: Seq,
  /** The message this one follows (null: the first); messages with the same parent are versions of one turn. */
  parentId: Id.nullable().optional(),
  /** This version's place among the versions of its turn (edits, regenerated answers): `index` (0-based) of `count`. */
  siblings: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).optional(),
  role: RoleSchema,
  text: z.string(),
  state: MessageStateSchema,
  createdAt: Timestamp,
  /** Set when state is "error": a sentence for the user. */
  error: z.string().optional(),
  /** Speed of a generated answer, once it ended. */
  stats: MessageStatsSchema.optional(),
});
export type Message = z.infer<typeof MessageSchema>;

/** What the model still sees of the transcript (see main/core/cache-view.ts). */
export const CacheViewSchema = z.object({
  /** seq of the oldest message still (at least partly) in view; null when the whole conversation is */
  heldFromSeq: z.number().int().nullable(),
  /** tokens of that message still in view, when only its end is */
  heldTokensOfFirst: z.number().int().nonnegative().nullable(),
  evictedTokens: z.number().int().nonnegative(),
  /** leading tokens kept for ever (attention sinks, a pinned first turn) */
  keptTokens: z.number().int().nonnegative(),
  /** messages (partly) in that kept head */
  keptSeqs: z.array(z.number().int()),
  system: z.enum(['kept', 'seen', 'forgotten']).nullable(),
});
export type CacheView = z.infer<typeof CacheViewSchema>;

/** The sink inspector: per layer and head, the share of attention given to the first tokens (0…1). */
export const SinkReportSchema = z.object({
  layers: z.number().int().nonnegative(),
  heads: z.number().int().nonnegative(),
  firstTokens: z.number().int().positive(),
  tokens: z.number().int().nonnegative(),
  share: z.array(z.array(z.number().min(0).max(1.0001))),
});
export type SinkReport = z.infer<typeof SinkReportSchema>;

/** Tokens per character of each script class, measured on the model's tokenizer (shared/token-estimate.ts). */
export const TokenRatesSchema = z.strictObject(
  Object.fromEntries(SCRIPTS.map((s) => [s, z.number().nonnegative().max(64)])) as Record<Script, z.ZodNumber>,
);

export const StatsSchema = z.object({
  sessionId: Id,
  /** Decode speed of the answer in flight (so far), else of the last one; 0 when nothing was measured. */
  tokensPerSecond: z.number().nonnegative(),
  /** Tokens currently held in the KV cache. */
  cacheFill: z.number().int().nonnegative(),
  /** Tokens the cache can hold under the current policy. */
  cacheCapacity: z.number().int().nonnegative(),
  /** Memory held by the KV cache. */
  kvBytes: z.number().nonnegative(),
  /** Provider that actually runs (after fallback). */
  executionProvider: ExecutionProviderSchema,
  /** Why the chosen provider was not used, when it fell back (a sentence). */
  providerFallbackReason: z.string().optional(),
  /** The GPU adapter the session runs on (WebGPU): vendor and architecture, or "software adapter: …". */
  gpuAdapter: z.string().max(300).optional(),
  /** Tokens the model has seen in this session (prompt + generated), evicted ones included. */
  totalTokensSeen: z.number().int().nonnegative(),
  policy: PolicyConfigSchema,
  /** The model's tokens per character by script (shared/token-estimate.ts), for estimates before sending. */
  tokenRates: TokenRatesSchema.optional(),
  view: CacheViewSchema.optional(),
  /** The answer in flight, measured so far. */
  answer: MessageStatsSchema.optional(),
});
export type Stats = z.infer<typeof StatsSchema>;

export const SearchHitSchema = z.object({
  sessionId: Id,
  sessionName: z.string(),
  /** null when the session's name matched rather than a message. */
  messageId: Id.nullable(),
  seq: Seq.nullable(),
  role: RoleSchema.nullable(),
  /** Excerpt around the match; matches wrapped in \u0002…\u0003 (control characters, never in stored text). */
  snippet: z.string(),
  /** false: the message lies on a branch the chat does not show now (opening it shows that branch) */
  onShownBranch: z.boolean().optional(),
});
export type SearchHit = z.infer<typeof SearchHitSchema>;

// ---------------------------------------------------------------------------------------------
// Params and results, one pair per method

export const NoParams = z.strictObject({}).optional();
/** Methods that answer nothing: `undefined` (null on the wire). */
export const VoidResult = z.union([z.null(), z.undefined()]).transform(() => undefined);

const VariantName = z.string().min(1).max(200);
export const ModelsImportParams = z.strictObject({
  dir: z.string().min(1, 'The folder path is empty.').max(4096),
  variant: VariantName.optional(),
});
/** variant null: the best one for the provider. */
export const ModelsSetVariantParams = z.strictObject({ modelId: Id, variant: VariantName.nullable() });
export const ModelsRemoveParams = z.strictObject({ modelId: Id });
export const ModelsRemoveResult = z.object({
  /** true: its folder lay in the app's models folder and was deleted; false: a folder imported from elsewhere stays */
  deletedFolder: z.boolean(),
});
export const ModelsSetProviderParams = z.strictObject({ modelId: Id, provider: ExecutionProviderSchema });

export const SessionsCreateParams = z.strictObject({
  name: Name,
  modelId: Id,
  policy: PolicyConfigSchema,
  systemPrompt: boundedText(MAX_SYSTEM_PROMPT_BYTES).optional(),
});
export const SessionsOpenParams = z.strictObject({
  id: Id,
  /** How many of the most recent messages to return (default DEFAULT_OPEN_LIMIT). */
  limit: z.number().int().min(1).max(MAX_PAGE_LIMIT).optional(),
});
/** Why an opened chat is read-only: `model_missing`, its model's folder is gone (locate it, or switch the chat's model). */
export const ReadOnlyReasonSchema = z.object({
  code: z.literal('model_missing'),
  modelId: Id,
  modelName: z.string(),
  /** where the folder was */
  path: z.string(),
});
export type ReadOnlyReason = z.infer<typeof ReadOnlyReasonSchema>;
export const SessionsOpenResult = z.object({
  session: SessionSchema,
  /** The last `limit` messages, oldest first. */
  messages: z.array(MessageSchema),
  /** True when older messages exist (fetch them with messages.page). */
  hasMore: z.boolean(),
  stats: StatsSchema,
  /** Set when the chat can be read but not run (nothing is loaded, stats are empty); absent: the chat runs. */
  readOnly: ReadOnlyReasonSchema.optional(),
});
export type SessionsOpenResult = z.infer<typeof SessionsOpenResult>;

/** Moves a chat to another model: its transcript is re-read with that model (the old model's snapshots go). */
export const SessionsSetModelParams = z.strictObject({ id: Id, modelId: Id });
export const SessionsRenameParams = z.strictObject({ id: Id, name: Name });
export const SessionIdParams = z.strictObject({ id: Id });
export const SessionsSearchParams = z.strictObject({
  text: z.string().max(MAX_SEARCH_CHARS),
  limit: z.number().int().min(1).max(500).optional(),
});

export const MessagesPageParams = z.strictObject({
  sessionId: Id,
  /** Return messages with seq < beforeSeq. */
  beforeSeq: Seq,
  limit: z.number().int().min(1).max(MAX_PAGE_LIMIT),
});
export const MessagesPageResult = z.object({
  /** Oldest first. */
  messages: z.array(MessageSchema),
  hasMore: z.boolean(),
});
export type MessagesPageResult = z.infer<typeof MessagesPageResult>;

/** Deletes one message of a chat (only it; a version with the replies under it); `undoId` puts it back for a while. */
export const MessagesDeleteParams = z.strictObject({ sessionId: Id, messageId: Id });
export const MessagesDeleteResult = z.object({ undoId: z.string(), stats: StatsSchema });
export const MessagesRestoreParams = z.strictObject({ sessionId: Id, undoId: z.string().min(1).max(100) });

export const ChatSendParams = z.strictObject({ sessionId: Id, text: boundedText(MAX_MESSAGE_BYTES) });
export const ChatSessionParams = z.strictObject({ sessionId: Id });
/** `messageId`: the answer to write a new version of (default: the last one). */
export const ChatRegenerateParams = z.strictObject({ sessionId: Id, messageId: Id.optional() });
/** A new version of the user message `messageId`, answered. */
export const ChatEditParams = z.strictObject({ sessionId: Id, messageId: Id, text: boundedText(MAX_MESSAGE_BYTES) });
/** Shows the branch through `messageId`'s version `version` (0-based; default `messageId` itself). */
export const ChatSwitchBranchParams = z.strictObject({ sessionId: Id, messageId: Id, version: z.number().int().nonnegative().optional() });
export const ChatSwitchBranchResult = z.object({
  /** false: that branch was shown already (nothing changed) */
  switched: z.boolean(),
  /** how the cache was rebuilt for the branch, for the user; null when nothing changed */
  statement: z.string().nullable(),
});
export type ChatSwitchBranchResult = z.infer<typeof ChatSwitchBranchResult>;

export const PolicySetParams = z.strictObject({ sessionId: Id, policy: PolicyConfigSchema });
export const PolicySetResult = z.object({
  /** What happened to the cache, for the user, e.g. "Kept 4 sink + 1020 recent tokens; evicted 3,112." */
  statement: z.string(),
  policy: PolicyConfigSchema,
  stats: StatsSchema,
});
export type PolicySetResult = z.infer<typeof PolicySetResult>;

// ---------------------------------------------------------------------------------------------
// Events (core → renderer) that belong to no request; answers stream on channels (packets.ts)

/** `frozenChatId`: the chat whose model the core was running when it stopped answering (it is not reopened by itself). */
export const CoreRestartedEventSchema = z.object({ reason: z.string(), frozenChatId: Id.optional() });
/** A chat the engine before this one froze or died in (opening it, writing an answer): the app does not reopen it by itself. */
export const InterruptedChatSchema = z.object({
  sessionId: Id,
  chat: z.string(),
  /** its model's name; null when the model is gone */
  model: z.string().nullable(),
  /** what the engine was doing, in words */
  what: z.string(),
  at: z.number().int(),
});
export type InterruptedChat = z.infer<typeof InterruptedChatSchema>;
/** The core is upgrading the chat database before it starts (e.g. building the search index): rows done of total. */
export const MigrationEventSchema = z.object({ step: z.string().max(200), done: z.number().int().nonnegative(), total: z.number().int().nonnegative() });
export type MigrationEvent = z.infer<typeof MigrationEventSchema>;
/** A failure not tied to a request, e.g. a session's KV snapshot that could not be used. */
export const ErrorEventSchema = z.object({ sessionId: Id.optional(), message: z.string() });
export type CoreRestartedEvent = z.infer<typeof CoreRestartedEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;
