import type { RopeSpec } from '../engine/model-config.js';
import type { CacheContents, CachePolicy, PolicySpec, RunPlan } from './cache-policy.js';
import { emptyKv, type KvGeometry, type LayerKv } from './layer-kv.js';
import { rotateKeys } from './rope-rotation.js';

/**
 * A bounded cache of `sinks` first tokens plus the most recent `window` tokens, with positions assigned inside
 * the cache (StreamingLLM). When full, the oldest `evictChunk` window tokens go at once and every remaining
 * window key is turned back by that many positions, so cache index = position id always; sinks never change.
 * With zero sinks this is the plain sliding window.
 */
export class RollingCache implements CachePolicy {
  private kv: LayerKv[];
  private tokens: number[] = [];
  private original: number[] = [];
  private seen = 0;
  private sinks: number;

  constructor(
    readonly spec: PolicySpec,
    private readonly geometry: KvGeometry,
    private readonly rope: RopeSpec,
  ) {
    if (spec.window < 1) throw new RangeError('The window must hold at least one token.');
    this.sinks = spec.name === 'sink' ? spec.sink : 0;
    this.kv = emptyKv(geometry);
  }

  get length(): number {
    return this.tokens.length;
  }

  get capacity(): number {
    return this.sinks + this.spec.window;
  }

  get totalTokensSeen(): number {
    return this.seen;
  }

  /** Tokens evicted at once; never more than half the window, so some recent context always stays. */
  private get evictCount(): number {
    return Math.min(this.spec.evictChunk, Math.max(1, Math.floor(this.spec.window / 2)));
  }

  room(): number {
    const free = this.capacity - this.length;
    return free > 0 ? free : this.evictCount;
  }

  plan(tokens: number[]): RunPlan {
    const overflow = this.length + tokens.length - this.capacity;
    if (overflow > 0) this.evict(Math.max(overflow, this.evictCount));
    const start = this.length;
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: LayerKv[], tokens: number[]): void {
    this.kv = present;
    for (const t of tokens) {
      this.tokens.push(t);
      this.original.push(this.seen++);
    }
  }

  pinPrefix(n: number): void {
    // Only with the pin-system option, and only a prefix still whole in the cache can become sinks.
    if (!this.spec.pinSystem || this.seen !== this.length) return;
    this.sinks = Math.max(this.sinks, Math.min(n, this.length));
  }

  private evict(count: number): void {
    const { kvHeads, headDim } = this.geometry;
    const sinks = Math.min(this.sinks, this.length);
    const e = Math.min(count, this.length - sinks);
    if (e <= 0) return;
    const oldLength = this.length;
    const newLength = oldLength - e;
    this.kv = this.kv.map(({ key, value }) => {
      const k = dropRange(key, kvHeads, headDim, oldLength, sinks, e);
      rotateKeys(k, kvHeads, headDim, sinks, newLength, -e, this.rope);
      return { key: k, value: dropRange(value, kvHeads, headDim, oldLength, sinks, e) };
    });
    this.tokens.splice(sinks, e);
    this.original.splice(sinks, e);
  }

  kvBytes(): number {
    return this.kv.reduce((s, l) => s + l.key.byteLength + l.value.byteLength, 0);
  }

  contents(): CacheContents {
    return {
      tokens: [...this.tokens],
      originalPositions: [...this.original],
      cachePositions: this.tokens.map((_, i) => i),
      kv: this.kv,
      totalTokensSeen: this.seen,
      history: [],
      sinks: this.sinks,
    };
  }

  restore(c: CacheContents): void {
    this.kv = c.kv;
    this.tokens = [...c.tokens];
    this.original = [...c.originalPositions];
    this.seen = c.totalTokensSeen;
    this.sinks = c.sinks;
  }

  reset(): void {
    this.kv = emptyKv(this.geometry);
    this.tokens = [];
    this.original = [];
    this.seen = 0;
    this.sinks = this.spec.name === 'sink' ? this.spec.sink : 0;
  }
}

/** Copies [heads, length, dim] without tokens [from, from + count) of every head. */
function dropRange(src: Float32Array, heads: number, dim: number, length: number, from: number, count: number): Float32Array {
  const newLength = length - count;
  const out = new Float32Array(heads * newLength * dim);
  for (let h = 0; h < heads; h++) {
    const s = h * length * dim;
    const d = h * newLength * dim;
    out.set(src.subarray(s, s + from * dim), d);
    out.set(src.subarray(s + (from + count) * dim, s + length * dim), d + from * dim);
  }
  return out;
}
