import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, emptyKv, kvBytes, type CacheKv, type KvGeometry } from '../engine/layer-kv.js';
import type { KvEditor } from '../engine/layer-kv.js';
import { HostKvEditor } from './kv-editor.js';

/**
 * A bounded cache of `sinks` first tokens plus the most recent `window` tokens, with positions assigned inside
 * the cache (StreamingLLM). When full, the oldest `evictChunk` window tokens go at once and every remaining
 * window key is turned back by that many positions, so cache index = position id always; sinks never change.
 * With zero sinks this is the plain sliding window.
 */
export class RollingCache implements CachePolicy {
  private kv: CacheKv[];
  private tokens: number[] = [];
  private original: number[] = [];
  private seen = 0;
  private sinks: number;

  constructor(
    readonly spec: PolicySpec,
    private readonly geometry: KvGeometry,
    rope: RopeSpec,
    private readonly editor: KvEditor = new HostKvEditor(geometry, rope),
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

  async plan(tokens: number[]): Promise<RunPlan> {
    const overflow = this.length + tokens.length - this.capacity;
    if (overflow > 0) await this.evict(Math.max(overflow, this.evictCount));
    const start = this.length;
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: CacheKv[], tokens: number[]): void {
    if (present !== this.kv) disposeKv(this.kv);
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

  private async evict(count: number): Promise<void> {
    const sinks = Math.min(this.sinks, this.length);
    const e = Math.min(count, this.length - sinks);
    if (e <= 0) return;
    const old = this.kv;
    this.kv = await this.editor.evict(old, sinks, e);
    disposeKv(old);
    this.tokens.splice(sinks, e);
    this.original.splice(sinks, e);
  }

  kvBytes(): number {
    return kvBytes(this.kv);
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
    disposeKv(this.kv);
    this.kv = c.kv;
    this.tokens = [...c.tokens];
    this.original = [...c.originalPositions];
    this.seen = c.totalTokensSeen;
    this.sinks = c.sinks;
  }

  dispose(): void {
    this.reset();
  }

  reset(): void {
    disposeKv(this.kv);
    this.kv = emptyKv(this.geometry);
    this.tokens = [];
    this.original = [];
    this.seen = 0;
    this.sinks = this.spec.name === 'sink' ? this.spec.sink : 0;
  }
}
