/**
 * What a channel carries. `chat.send`, `chat.regenerate` and `ab.start` answer with a channel bound to the
 * request: first `started` (ids and order fixed by the core), then `progress`, `token` and `stats` packets,
 * then exactly one final packet (`done`, `stopped` or `failed`). Cancelling the channel stops the work.
 */
import { z } from 'zod';
import { ApiErrorCodeSchema } from './envelope.js';
import { AbBranchLabelSchema, AbMetricsSchema } from './ab-schemas.js';
import { Id, MessageSchema, ModelInfoSchema, PolicyConfigSchema, PolicySetResult, StatsSchema } from './schemas.js';

const ErrorSchema = z.object({ code: ApiErrorCodeSchema, message: z.string() });

/** How far a long operation is: `done` of `total` (tokens or bytes) and the seconds left at the recent rate (null: not known yet). */
export const ProgressFields = {
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable().optional(),
};

export const ChatPacketSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'),
    /** The stored user message (null for a regenerate). */
    user: MessageSchema.nullable(),
    /** The assistant message that streams (state "streaming", empty text). */
    assistant: MessageSchema,
    /**
     * The message an edit or a regenerate replaced in the transcript (it stays, on another branch), if any: it and
     * what followed it are no longer shown.
     */
    replacedMessageId: Id.nullable(),
  }),
  /** The user's turn is read into the cache: `done` of `total` tokens. */
  z.object({ type: z.literal('progress'), phase: z.literal('prefill'), ...ProgressFields }),
  /** `tokens`: of the answer so far, this delta's included (a UI counts what it shows; absent, count one per delta). */
  z.object({ type: z.literal('token'), delta: z.string(), tokens: z.number().int().nonnegative().optional() }),
  z.object({ type: z.literal('stats'), stats: StatsSchema }),
  /**
   * `notice`: what the user should know of an answer that is stored whole: why it ended early (context_full), or what
   * failed after it (its cache's copy on a full disk). Coded, so each locale says it and code never reads the text.
   */
  z.object({ type: z.literal('done'), message: MessageSchema, stats: StatsSchema, notice: ErrorSchema.optional() }),
  z.object({ type: z.literal('stopped'), message: MessageSchema, stats: StatsSchema }),
  /** `message` is what was stored of the answer (null when it failed before it started). */
  z.object({ type: z.literal('failed'), message: MessageSchema.nullable(), error: ErrorSchema }),
]);
export type ChatPacket = z.infer<typeof ChatPacketSchema>;

export const AbPacketSchema = z.discriminatedUnion('type', [
  /** `abId` names the run until it is stored (`done` carries the stored run's id). */
  z.object({ type: z.literal('started'), abId: Id }),
  /** fork: the branch has its cache (done = total = 0); prefill: the prompt is read; scoring: the conversation's perplexity is measured. */
  z.object({
    type: z.literal('progress'),
    branch: AbBranchLabelSchema,
    phase: z.enum(['fork', 'prefill', 'scoring']),
    ...ProgressFields,
    fork: z.enum(['forked', 'rebuilt']).optional(),
  }),
  z.object({ type: z.literal('token'), branch: AbBranchLabelSchema, delta: z.string() }),
  /** The run was stored: vote on it with ab.vote. */
  z.object({ type: z.literal('done'), runId: Id, a: AbMetricsSchema, b: AbMetricsSchema }),
  /** Stopped before the end: nothing was stored. */
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('failed'), error: ErrorSchema }),
]);
export type AbPacket = z.infer<typeof AbPacketSchema>;

/**
 * `policy.set`: the transcript is re-read under the new policy (`rebuild` progress in tokens), then `done` with the
 * statement. Cancelled, it ends `stopped`: the session keeps its old policy and cache (`policy` is that one).
 */
export const PolicyPacketSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), phase: z.literal('rebuild'), ...ProgressFields }),
  PolicySetResult.extend({ type: z.literal('done') }),
  z.object({ type: z.literal('stopped'), policy: PolicyConfigSchema, stats: StatsSchema }),
  z.object({ type: z.literal('failed'), error: ErrorSchema }),
]);
export type PolicyPacket = z.infer<typeof PolicyPacketSchema>;

/**
 * `models.add` and `models.convert`: a checkpoint's weights are converted (`convert`, bytes), a folder's weights are
 * hashed for its identity (`hash`, bytes; slow only the first time); `done` carries the imported model. Cancelled,
 * it ends `stopped`: nothing is stored and no folder is left behind.
 */
export const ModelJobPacketSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), phase: z.enum(['convert', 'hash']), ...ProgressFields }),
  z.object({ type: z.literal('done'), model: ModelInfoSchema }),
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('failed'), error: ErrorSchema }),
]);
export type ModelJobPacket = z.infer<typeof ModelJobPacketSchema>;

/** The packets that end a channel. */
export const FINAL_PACKETS = ['done', 'stopped', 'failed'] as const;
export function isFinalPacket(p: { type: string }): boolean {
  return (FINAL_PACKETS as readonly string[]).includes(p.type);
}
