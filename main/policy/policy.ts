/**
 * The KV cache policies, their parameters, bounds and defaults: the one place they are spelled. Imported by
 * every layer (api, core, cache, store, cli, the renderer), so it imports nothing but `shared`.
 * - dense: keep everything (until the model's context is full).
 * - window: keep the last `window` tokens.
 * - recompute: re-run the last `window` tokens for each new token (the slow reference).
 * - sink: keep the first `sink` tokens plus the last `window` tokens (StreamingLLM).
 * `pinSystem`: the first turn (the system prompt) is never evicted: it counts as extra sinks.
 */
import { PerpetuaError } from '../shared/errors.js';

export const POLICY_NAMES = ['dense', 'window', 'recompute', 'sink'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** A policy as the user chooses it (the API, the renderer). */
export interface PolicyConfig {
  name: PolicyName;
  /** attention-sink tokens kept forever (sink policy) */
  sink: number;
  /** recent tokens kept (window, sink, recompute) */
  window: number;
  /** keep the whole first turn (system prompt) as sinks, like llama.cpp's --keep */
  pinSystem: boolean;
}

/** A policy as a cache runs it: the user's choice plus how eviction is batched. */
export interface PolicySpec extends PolicyConfig {
  /** tokens evicted at once when the cache is full (amortizes the RoPE re-rotation) */
  evictChunk: number;
}

/** Inclusive bounds of the numbers. */
export const POLICY_BOUNDS = {
  sink: { min: 0, max: 1024 },
  window: { min: 1, max: 1_048_576 },
  evictChunk: { min: 1, max: 65_536 },
} as const;

export const DEFAULT_POLICY: Readonly<PolicySpec> = Object.freeze({ name: 'sink', sink: 4, window: 1020, pinSystem: false, evictChunk: 64 });

/**
 * The policy a new chat starts with on a model trained for `contextLength` tokens: `sink` sinks + min(1020,
 * context − sinks) recent tokens, so the cache never reaches positions the model was not trained for.
 */
export function defaultPolicyFor(contextLength: number | undefined, sink: number = DEFAULT_POLICY.sink): PolicySpec {
  const room = contextLength === undefined ? DEFAULT_POLICY.window : contextLength - sink;
  return { ...DEFAULT_POLICY, sink, window: Math.max(1, Math.min(DEFAULT_POLICY.window, room)) };
}

/** A dense cache holds the model's whole context: more tokens would sit at positions it was never trained for. */
/**
 * `p` kept inside a model's context of `context` positions: its sinks as chosen where they fit, its window cut to what
 * is left (a cache larger than the context would place tokens at positions the model never saw).
 */
export function fitToContext<P extends PolicyConfig>(p: P, context: number | undefined): P {
  if (context === undefined) return p;
  const sink = p.name === 'sink' ? Math.min(p.sink, Math.max(0, context - 1)) : p.sink;
  const room = context - (p.name === 'sink' ? sink : 0);
  return { ...p, sink, window: Math.max(1, Math.min(p.window, room)) };
}

export class ContextFullError extends PerpetuaError {
  override readonly code = 'context_full';
  constructor(readonly contextLength: number) {
    super(contextFullSentence(contextLength));
  }
}

export function contextFullSentence(contextLength: number): string {
  return `The dense cache holds the model's whole ${contextLength}-token context, so it stops here; start a new chat or switch to the sink policy to keep going.`;
}

export function isPolicyName(x: unknown): x is PolicyName {
  return (POLICY_NAMES as readonly unknown[]).includes(x);
}

/** The spec the cache runs for a user's choice. */
export function toSpec(p: PolicyConfig, evictChunk: number = DEFAULT_POLICY.evictChunk): PolicySpec {
  return { name: p.name, sink: p.sink, window: p.window, pinSystem: p.pinSystem, evictChunk };
}

/** The user's part of a spec. */
export function toConfig(s: PolicyConfig): PolicyConfig {
  return { name: s.name, sink: s.sink, window: s.window, pinSystem: s.pinSystem };
}

/** Why a number is not a valid `what` (one sentence naming the bounds), or null when it is. */
export function boundsProblem(what: keyof typeof POLICY_BOUNDS, n: number): string | null {
  const { min, max } = POLICY_BOUNDS[what];
  if (Number.isInteger(n) && n >= min && n <= max) return null;
  return `The ${LABELS[what]} must be a whole number from ${min} to ${max.toLocaleString('en-US')}, not ${n}.`;
}

const LABELS: Record<keyof typeof POLICY_BOUNDS, string> = { sink: 'sink count', window: 'window size', evictChunk: 'eviction chunk' };
