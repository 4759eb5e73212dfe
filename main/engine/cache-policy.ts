/**
 * What the decode loop needs from a KV cache: the engine consumes this interface, main/cache implements it
 * (dense, window, recompute, sink), so the engine never knows which policy runs.
 */
import type { PolicySpec } from '../policy/policy.js';
import type { CacheKv, LayerKv, PastKv } from './layer-kv.js';

/** What one decoder run consumes. */
export interface RunPlan {
  ids: number[];
  positions: number[];
  /** per-layer KV, or the cache's in-place buffer (the run writes into it and gives it back as its present) */
  past: PastKv;
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
  /**
   * The host KV of some tokens only (ascending indices into `tokens`), keys at their cache positions, where the cache
   * can read them without copying all of it (an in-place buffer); absent: read `kv`.
   */
  kvRows?(indices: readonly number[]): LayerKv[];
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
  commit(present: PastKv, tokens: number[]): void;
  /**
   * Tokens one run may feed that leave the cache as feeding them one at a time would (the same evictions), and of
   * which any last ones can be taken back after it: the room of a lookup verify run. 1 where nothing can be taken
   * back (KV on a device).
   */
  draftRoom(): number;
  /** takes back the last `n` tokens of the last run (rejected drafts), their KV included */
  rollback(n: number): void;
  /** pin the first `n` tokens of the stream as sinks (pin-system option); no-op where it means nothing */
  pinPrefix(n: number): void;
  kvBytes(): number;
  contents(): CacheContents;
  /** takes host or device KV */
  restore(c: CacheContents): void;
  /** drops what the cache holds (GPU KV is freed); the policy stays usable */
  reset(): void;
  /** frees what the cache holds for good: whoever replaces a policy disposes the old one */
  dispose(): void;
}
