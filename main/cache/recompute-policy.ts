import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, emptyKv, kvBytes, type CacheKv, type KvGeometry } from '../engine/layer-kv.js';

/**
 * Sliding window with re-computation: keeps no KV, only the last `window` tokens, and re-prefills them from
 * scratch (positions 0…L−1) for every new token. The logits of the last token equal a fresh prefill of its
 * window — the quality baseline StreamingLLM is compared with, at O(T·L²) cost.
 */
export class RecomputePolicy implements CachePolicy {
  private recent: number[] = [];
  private seen = 0;
  private lastKvBytes = 0;

  constructor(readonly spec: PolicySpec, private readonly geometry: KvGeometry) {
    if (spec.window < 1) throw new RangeError('The window must hold at least one token.');
  }

  get length(): number {
    return this.recent.length;
  }

  get capacity(): number {
    return this.spec.window;
  }

  get totalTokensSeen(): number {
    return this.seen;
  }

  /** Any number of tokens: only the last one's logits are exact, and that is all a prefill needs. */
  room(): number {
    return Infinity;
  }

  async plan(tokens: number[]): Promise<RunPlan> {
    const ids = [...this.recent, ...tokens].slice(-this.spec.window);
    return { ids, positions: ids.map((_, i) => i), past: emptyKv(this.geometry) };
  }

  commit(present: CacheKv[], tokens: number[]): void {
    this.lastKvBytes = kvBytes(present);
    disposeKv(present); // rebuilt for every token: nothing is kept
    this.recent = [...this.recent, ...tokens].slice(-this.spec.window);
    this.seen += tokens.length;
  }

  /**
   * Until the window is full a run of several tokens gives each the logits of its own prefill; once it slides,
   * each token would see a different window, so a run holds one.
   */
  draftRoom(): number {
    return Math.max(1, this.spec.window - this.recent.length);
  }

  /** Only tokens are kept, so taking drafts back is forgetting them. */
  rollback(n: number): void {
    if (n <= 0) return;
    this.recent.length -= n;
    this.seen -= n;
  }

  pinPrefix(): void {}

  /** The KV is rebuilt for every token and dropped after it; this is the size of that transient cache. */
  kvBytes(): number {
    return this.lastKvBytes;
  }

  contents(): CacheContents {
    return {
      tokens: [],
      originalPositions: [],
      cachePositions: [],
      kv: emptyKv(this.geometry),
      totalTokensSeen: this.seen,
      history: [...this.recent],
      sinks: 0,
    };
  }

  restore(c: CacheContents): void {
    this.recent = c.history.slice(-this.spec.window);
    this.seen = c.totalTokensSeen;
  }

  dispose(): void {
    this.reset();
  }

  reset(): void {
    this.recent = [];
    this.seen = 0;
  }
}
