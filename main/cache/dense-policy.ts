import type { CacheContents, CachePolicy, PolicySpec, RunPlan } from './cache-policy.js';
import { emptyKv, type KvGeometry, type LayerKv } from './layer-kv.js';

/** Keeps every token's KV at its absolute position: exact, but memory and per-token cost grow without bound. */
export class DensePolicy implements CachePolicy {
  private kv: LayerKv[];
  private tokens: number[] = [];

  constructor(readonly spec: PolicySpec, private readonly geometry: KvGeometry) {
    this.kv = emptyKv(geometry);
  }

  get length(): number {
    return this.tokens.length;
  }

  get capacity(): number {
    return Infinity;
  }

  get totalTokensSeen(): number {
    return this.tokens.length;
  }

  room(): number {
    return Infinity;
  }

  plan(tokens: number[]): RunPlan {
    const start = this.length;
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: LayerKv[], tokens: number[]): void {
    this.kv = present;
    this.tokens.push(...tokens);
  }

  pinPrefix(): void {}

  kvBytes(): number {
    return this.kv.reduce((s, l) => s + l.key.byteLength + l.value.byteLength, 0);
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
    this.kv = c.kv;
    this.tokens = [...c.tokens];
  }

  reset(): void {
    this.kv = emptyKv(this.geometry);
    this.tokens = [];
  }
}
