/**
 * The core's completion packets → OpenAI's response objects: `chat.completion` / `chat.completion.chunk` and
 * `text_completion`, with `usage` (prompt_tokens_details.cached_tokens: the prompt tokens the chat's cache already
 * held) and, next to it, Perpetua's own `perpetua` field: which chat answered, how the request matched it, and what the
 * cache holds and has evicted (README: "perpetua serve").
 */
import type { CompletionMatch, CompletionPacket, FinishReason } from '../api/completion-schemas.js';
import { formatPolicy } from '../policy/policy-text.js';

type Ended = Extract<CompletionPacket, { type: 'done' | 'stopped' }>;
type Started = Extract<CompletionPacket, { type: 'started' }>;

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** The `perpetua` extension field. */
export interface PerpetuaReport {
  /** the chat that answered (null for /v1/completions, which stores nothing) */
  session: { id: string; name: string } | null;
  /** the stored answer */
  message_id: string | null;
  /** how the request met the stored chats (new, continued, appended, branched, regenerated) */
  match: { kind: CompletionMatch['kind']; reused_messages: number; named: boolean };
  /** the cache after the answer */
  cache: {
    policy: string;
    /** tokens it holds now, of at most `capacity_tokens` */
    held_tokens: number;
    capacity_tokens: number;
    /** tokens of this conversation no longer held (evicted by the policy) */
    evicted_tokens: number;
    /** leading tokens kept for ever (attention sinks, a pinned system prompt) */
    sink_tokens: number;
    /** every token of the conversation (branch) read or written so far */
    tokens_seen: number;
  } | null;
}

export function usageOf(p: Ended): OpenAiUsage {
  const { promptTokens, completionTokens, cachedTokens } = p.usage;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

export function reportOf(started: Started, p: Ended): PerpetuaReport {
  const s = p.stats;
  return {
    session: started.session,
    message_id: p.messageId,
    match: { kind: started.match.kind, reused_messages: started.match.reusedMessages, named: started.match.named },
    cache: s && {
      policy: formatPolicy(s.policy),
      held_tokens: s.cacheFill,
      capacity_tokens: s.cacheCapacity,
      evicted_tokens: s.view?.evictedTokens ?? Math.max(0, s.totalTokensSeen - s.cacheFill),
      sink_tokens: s.view?.keptTokens ?? 0,
      tokens_seen: s.totalTokensSeen,
    },
  };
}

/** OpenAI's finish reasons: a full dense cache ends the answer as its length limit would. */
export function finishReasonOf(r: FinishReason): 'stop' | 'length' {
  return r === 'length' || r === 'context' ? 'length' : 'stop';
}

/** What every object of one response shares. */
export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

export function chatCompletion(head: ResponseHead, started: Started, p: Ended) {
  return {
    ...head,
    object: 'chat.completion' as const,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: p.text, refusal: null }, logprobs: null, finish_reason: finishReasonOf(p.finishReason) }],
    usage: usageOf(p),
    perpetua: reportOf(started, p),
  };
}

export function textCompletion(head: ResponseHead, started: Started, p: Ended) {
  return {
    ...head,
    object: 'text_completion' as const,
    choices: [{ index: 0, text: p.text, logprobs: null, finish_reason: finishReasonOf(p.finishReason) }],
    usage: usageOf(p),
    perpetua: reportOf(started, p),
  };
}

/** One streamed piece; `usage` is null on every chunk but the last when the client asked for it (as OpenAI does). */
export function chatChunk(head: ResponseHead, delta: { role?: 'assistant'; content?: string }, finish: 'stop' | 'length' | null, includeUsage: boolean) {
  return {
    ...head,
    object: 'chat.completion.chunk' as const,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

export function textChunk(head: ResponseHead, text: string, finish: 'stop' | 'length' | null, includeUsage: boolean) {
  return {
    ...head,
    object: 'text_completion' as const,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** The last chunk before [DONE] when stream_options.include_usage is set: no choices, the usage and the report. */
export function usageChunk(head: ResponseHead, object: 'chat.completion.chunk' | 'text_completion', started: Started, p: Ended) {
  return { ...head, object, choices: [], usage: usageOf(p), perpetua: reportOf(started, p) };
}
