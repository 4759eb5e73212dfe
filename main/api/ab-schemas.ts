/** A/B runs: one prompt answered under two cache policies forked from the same session. */
import { z } from 'zod';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { PolicyConfigSchema } from '../policy/policy-schema.js';
import { boundedText, Id, SessionSchema, StatsSchema, Timestamp } from './schemas.js';

export const AbBranchLabelSchema = z.enum(['a', 'b']);
export type AbBranchLabel = z.infer<typeof AbBranchLabelSchema>;
export const AbVoteSchema = z.enum(['a', 'b', 'tie']);
export type AbVote = z.infer<typeof AbVoteSchema>;

/** What one branch of an A/B run measured. */
export const AbMetricsSchema = z.object({
  policy: PolicyConfigSchema,
  /** The branch's full answer. */
  answer: z.string(),
  /** Tokens generated. */
  tokens: z.number().int().nonnegative(),
  /** Per-token decode latency, median and 90th percentile (milliseconds). */
  latencyP50Ms: z.number().nonnegative(),
  latencyP90Ms: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  /** Tokens in the branch's KV cache after the answer, and what the policy can hold. */
  cacheFill: z.number().int().nonnegative(),
  cacheCapacity: z.number().int().nonnegative(),
  kvBytes: z.number().nonnegative(),
  /** Teacher-forced perplexity of the whole conversation (this answer included) under the policy; null when it could not be measured. */
  transcriptPpl: z.number().nonnegative().nullable(),
  /** Tokens that perplexity was measured over. */
  transcriptTokens: z.number().int().nonnegative(),
  /** How the branch got its cache: forked from the session's (keys re-rotated) or rebuilt from the transcript. */
  fork: z.enum(['forked', 'rebuilt']),
});
export type AbMetrics = z.infer<typeof AbMetricsSchema>;

/** A stored A/B run. */
export const AbRunSchema = z.object({
  id: Id,
  /** null once its session was deleted (runs outlive their session). */
  sessionId: Id.nullable(),
  createdAt: Timestamp,
  prompt: z.string(),
  a: AbMetricsSchema,
  b: AbMetricsSchema,
  vote: AbVoteSchema.nullable(),
  /** The chat is still where the run forked from it (it has not moved on): it can continue from A or B. */
  continuable: z.boolean(),
});
export type AbRun = z.infer<typeof AbRunSchema>;

/** Votes and median measurements of one policy over the runs it took part in. */
export const AbPolicySummarySchema = z.object({
  /** Stable key, e.g. "sink:4:32" or "sink:4:1020:pin". */
  key: z.string(),
  policy: PolicyConfigSchema,
  /** Branches that ran this policy. */
  runs: z.number().int().nonnegative(),
  /** Voted runs where this policy's branch won, lost, or tied. */
  wins: z.number().int().nonnegative(),
  losses: z.number().int().nonnegative(),
  ties: z.number().int().nonnegative(),
  medianLatencyP50Ms: z.number().nonnegative(),
  medianLatencyP90Ms: z.number().nonnegative(),
  medianTokensPerSecond: z.number().nonnegative(),
  /** null when no branch of this policy had a measured perplexity. */
  medianTranscriptPpl: z.number().nonnegative().nullable(),
  medianKvBytes: z.number().nonnegative(),
});
export type AbPolicySummary = z.infer<typeof AbPolicySummarySchema>;

export const AbSummarySchema = z.object({
  runs: z.number().int().nonnegative(),
  voted: z.number().int().nonnegative(),
  ties: z.number().int().nonnegative(),
  /** Most wins first. */
  policies: z.array(AbPolicySummarySchema),
});
export type AbSummary = z.infer<typeof AbSummarySchema>;

export const AbStartParams = z.strictObject({
  sessionId: Id,
  a: PolicyConfigSchema,
  b: PolicyConfigSchema,
  prompt: boundedText(MAX_MESSAGE_BYTES).refine((s) => s.trim().length > 0, 'The prompt is empty.'),
  /** Most tokens each answer may have (default: the core's answer limit). */
  maxTokens: z.number().int().min(1).max(4096).optional(),
});
export const AbStopParams = z.strictObject({ sessionId: Id });

export const AbVoteParams = z.strictObject({
  runId: Id,
  /** null clears the vote. */
  vote: AbVoteSchema.nullable(),
  /** Continue the session from the voted branch (a or b): its prompt, answer, cache and policy become the session's. */
  continueWith: z.boolean().optional(),
});
export const AbVoteResult = z.object({
  run: AbRunSchema,
  /** True when the session now continues from the voted branch. */
  continued: z.boolean(),
  /** The session after the vote (its policy changed when it continued from a branch). */
  session: SessionSchema.nullable(),
  /** Set when it continued, e.g. "The chat continues from B: window (last 24 tokens)." */
  statement: z.string().nullable(),
  /** The session's cache figures after it continued (null when it did not). */
  stats: StatsSchema.nullable().default(null),
});
export type AbVoteResult = z.infer<typeof AbVoteResult>;

export const AbHistoryParams = z.strictObject({ sessionId: Id.optional() }).optional();
export const AbHistoryResult = z.object({
  /** Newest first. */
  runs: z.array(AbRunSchema),
  summary: AbSummarySchema,
});
export type AbHistoryResult = z.infer<typeof AbHistoryResult>;
