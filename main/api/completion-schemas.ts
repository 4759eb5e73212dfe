/**
 * Completions as the OpenAI-compatible server asks for them (`chat.complete`, `text.complete`): a whole conversation
 * (or a prompt) per request, as such clients send it, matched by the core to the stored chat it continues. The HTTP
 * surface (main/server) translates OpenAI's JSON to these and back; the matching, the cache and the store stay in the core.
 */
import { z } from 'zod';
import { ApiErrorCodeSchema } from './envelope.js';
import { GenerationSettingsSchema } from './generation-schemas.js';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { boundedText, Id, PolicyConfigSchema, StatsSchema } from './schemas.js';

/** Most messages one request may carry (a long agent history, not an unbounded list). */
export const MAX_REQUEST_MESSAGES = 10_000;

export const CompletionMessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: boundedText(MAX_MESSAGE_BYTES),
});
export type CompletionMessage = z.infer<typeof CompletionMessageSchema>;

/** What every completion may say beside its text: which chat (id or name), the policy, the sampling of this answer. */
const CompletionCommon = {
  /** a model's id or name; absent: the first model of the library */
  model: z.string().min(1).max(500).optional(),
  /** this chat (an id or a name; a new name creates it) instead of the one whose transcript matches */
  session: z.string().min(1).max(200).optional(),
  /** the cache policy: a new chat starts with it, an existing one switches to it first (its cache is rebuilt) */
  policy: PolicyConfigSchema.optional(),
  /** this answer's settings, over the chat's and the model's */
  generation: GenerationSettingsSchema.optional(),
};

export const ChatCompleteParams = z.strictObject({
  /** the conversation so far; the last message is the user's new turn */
  messages: z.array(CompletionMessageSchema).min(1, 'There are no messages.').max(MAX_REQUEST_MESSAGES, `At most ${MAX_REQUEST_MESSAGES} messages.`),
  ...CompletionCommon,
});
export type ChatCompleteParams = z.infer<typeof ChatCompleteParams>;

export const TextCompleteParams = z.strictObject({
  prompt: boundedText(MAX_MESSAGE_BYTES),
  ...CompletionCommon,
});
export type TextCompleteParams = z.infer<typeof TextCompleteParams>;

/**
 * How a request met the stored chats: `new` (no chat's transcript starts it), `continued` (a chat's whole transcript
 * is the start of the request: only the new turn is read), `appended` (as continued, with messages the chat did not
 * have read too), `branched` (it shares only a start with a chat: a branch from where they part), `regenerated` (the
 * request ends where the chat has an answer: a new version of it).
 */
export const MatchKindSchema = z.enum(['new', 'continued', 'appended', 'branched', 'regenerated']);
export type MatchKind = z.infer<typeof MatchKindSchema>;

export const CompletionMatchSchema = z.object({
  kind: MatchKindSchema,
  /** messages of the request the chat already held (not read again) */
  reusedMessages: z.number().int().nonnegative(),
  /** true when the request named the chat */
  named: z.boolean(),
});
export type CompletionMatch = z.infer<typeof CompletionMatchSchema>;

export const CompletionUsageSchema = z.object({
  /** tokens of the whole conversation the answer follows, as the model reads it (template included) */
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  /** of the prompt tokens, those the cache already held: not read again for this request */
  cachedTokens: z.number().int().nonnegative(),
});
export type CompletionUsage = z.infer<typeof CompletionUsageSchema>;

const ErrorSchema = z.object({ code: ApiErrorCodeSchema, message: z.string() });

/** Why the answer ended: eos or a stop string (stop), its token limit (length), a full dense cache (context), stopped (cancelled). */
export const FinishReasonSchema = z.enum(['stop', 'length', 'context', 'cancelled']);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

const Ended = {
  text: z.string(),
  finishReason: FinishReasonSchema,
  usage: CompletionUsageSchema,
  /** the cache after the answer: what it holds, what it evicted, its policy */
  stats: StatsSchema.nullable(),
  /** the stored answer (null for a text completion, which is not stored) */
  messageId: Id.nullable(),
};

export const CompletionPacketSchema = z.discriminatedUnion('type', [
  /** `session` is null for a text completion (not stored as a chat) */
  z.object({ type: z.literal('started'), session: z.object({ id: Id, name: z.string() }).nullable(), match: CompletionMatchSchema }),
  /** the request's new text is read into the cache: `done` of `total` tokens (a long paste takes a while) */
  z.object({ type: z.literal('progress'), done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  z.object({ type: z.literal('token'), delta: z.string() }),
  z.object({ type: z.literal('done'), ...Ended }),
  z.object({ type: z.literal('stopped'), ...Ended }),
  z.object({ type: z.literal('failed'), error: ErrorSchema }),
]);
export type CompletionPacket = z.infer<typeof CompletionPacketSchema>;
