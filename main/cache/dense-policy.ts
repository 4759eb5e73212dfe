import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, emptyKv, kvBytes, type CacheKv, type KvGeometry } from '../engine/layer-kv.js';
import { ContextFullError } from '../policy/policy.js';

/**
 * Keeps every token's KV at its absolute position: exact, but memory and per-token cost grow with the stream, and
 * it stops at `maxLength` (the model's context: positions past it were never trained for).
 */
export class DensePolicy implements CachePolicy {
  private kv: CacheKv[];
  private tokens: number[] = [];

  constructor(
    readonly spec: PolicySpec,
    private readonly geometry: KvGeometry,
    private readonly maxLength = Infinity,
  ) {
    this.kv = emptyKv(geometry);
  }

  get length(): number {
    return this.tokens.length;
  }

  get capacity(): number {
    return this.maxLength;
  }

  get totalTokensSeen(): number {
    return this.tokens.length;
  }

  room(): number {
    return this.maxLength - this.length;
  }

  async plan(tokens: number[]): Promise<RunPlan> {
    if (this.length + tokens.length > this.maxLength) throw new ContextFullError(this.maxLength);
    const start = this.length;
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: CacheKv[], tokens: number[]): void {
    if (present !== this.kv) disposeKv(this.kv);
    this.kv = present;
    this.tokens.push(...tokens);
  }

  pinPrefix(): void {}

  kvBytes(): number {
    return kvBytes(this.kv);
  }

  contents(): CacheContents {
    const positions = this.tokens.map((_, i) => i);
    return {
      tokens: [...this.tokens],
      originalPositions: positions,
      cachePositions: positions,
      kv: this.kv,
      totalTokensSeen: this.length,
      history: [],
      sinks: 0,
    };
  }

  restore(c: CacheContents): void {
    disposeKv(this.kv);
    this.kv = c.kv;
    this.tokens = [...c.tokens];
  }

  dispose(): void {
    this.reset();
  }

  reset(): void {
    disposeKv(this.kv);
    this.kv = emptyKv(this.geometry);
    this.tokens = [];
  }
}
