import type { CacheKv } from './layer-kv.js';

export const POLICY_NAMES = ['dense', 'window', 'recompute', 'sink'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** A policy and its parameters, as a session stores it. */
export interface PolicySpec {
  name: PolicyName;
  /** attention-sink tokens kept forever (sink policy) */
  sink: number;
  /** recent tokens kept (window, sink, recompute) */
  window: number;
  /** keep the whole first turn (system prompt) as sinks, like llama.cpp's --keep */
  pinSystem: boolean;
  /** tokens evicted at once when the cache is full (amortizes the RoPE re-rotation) */
  evictChunk: number;
}

export const DEFAULT_POLICY: PolicySpec = { name: 'sink', sink: 4, window: 1020, pinSystem: false, evictChunk: 64 };

/**
 * The policy a new chat starts with on a model trained for `contextLength` tokens: `sink` sinks + min(1020,
 * context − sinks) recent tokens, so the cache never reaches positions the model was not trained for.
 */
export function defaultPolicyFor(contextLength: number | undefined, sink: number = DEFAULT_POLICY.sink): PolicySpec {
  const room = contextLength === undefined ? DEFAULT_POLICY.window : contextLength - sink;
  return { ...DEFAULT_POLICY, sink, window: Math.max(1, Math.min(DEFAULT_POLICY.window, room)) };
}

/** What one decoder run consumes. */
export interface RunPlan {
  ids: number[];
  positions: number[];
  past: CacheKv[];
}

/** The tokens a cache holds, for snapshots and inspection. */
export interface CacheContents<K extends CacheKv = CacheKv> {
  tokens: number[];
  /** position of each token in the whole stream */
  originalPositions: number[];
  /** position id each token was (or is now, after re-rotation) encoded at */
  cachePositions: number[];
  kv: K[];
  totalTokensSeen: number;
  /** token history beyond the KV (recompute keeps tokens, not KV) */
  history: number[];
  /** leading cache tokens that are never evicted (sinks, or a pinned first turn) */
  sinks: number;
}

/**
 * Decides what the KV cache holds and which position ids new tokens get. The engine calls, per run:
 * `room()` (how many tokens fit before the next eviction) → `plan(tokens)` (evicts if needed, returns
 * ids/positions/past) → model run → `commit(present, tokens)`. The engine never knows which policy runs.
 */
export interface CachePolicy {
  readonly spec: PolicySpec;
  /** tokens currently attended to */
  readonly length: number;
  /** the most tokens the cache ever holds (Infinity for dense) */
  readonly capacity: number;
  readonly totalTokensSeen: number;
  /** tokens that can be fed in one run without an eviction in the middle of it */
  room(): number;
  plan(tokens: number[]): Promise<RunPlan>;
  commit(present: CacheKv[], tokens: number[]): void;
  /** pin the first `n` tokens of the stream as sinks (pin-system option); no-op where it means nothing */
  pinPrefix(n: number): void;
  kvBytes(): number;
  contents(): CacheContents;
  /** takes host or device KV */
  restore(c: CacheContents): void;
  reset(): void;
}
