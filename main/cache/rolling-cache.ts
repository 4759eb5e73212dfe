import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, isKvBuffer, kvBytes, type CacheKv, type KvGeometry, type PastKv } from '../engine/layer-kv.js';
import type { KvEditor } from '../engine/layer-kv.js';
import { evictInPlace, HostKvEditor } from './kv-editor.js';
import { freshCacheKv, restoredCacheKv } from './cache-kv.js';

/**
 * A bounded cache of `sinks` first tokens plus the most recent `window` tokens, with positions assigned inside
 * the cache (StreamingLLM). When full, the oldest `evictChunk` window tokens go at once and every remaining
 * window key is turned back by that many positions, so cache index = position id always; sinks never change.
 * With zero sinks this is the plain sliding window.
 * Where the model's graph writes its KV in place (`editor.createBuffer`), the cache keeps it in one fixed buffer
 * and evicts inside it; otherwise it holds each run's present arrays and the editor makes new ones on eviction.
 */
export class RollingCache implements CachePolicy {
  private kv: PastKv;
  private readonly editor: KvEditor;
  private tokens: number[] = [];
  private original: number[] = [];
  private seen = 0;
  private sinks: number;

  constructor(
    readonly spec: PolicySpec,
    private readonly geometry: KvGeometry,
    private readonly rope: RopeSpec,
    editor?: KvEditor,
  ) {
    if (spec.window < 1) throw new RangeError('The window must hold at least one token.');
    this.editor = editor ?? new HostKvEditor(geometry, rope);
    this.sinks = spec.name === 'sink' ? spec.sink : 0;
    this.kv = this.emptyKv();
  }

  private emptyKv(): PastKv {
    return freshCacheKv(this.editor, this.geometry, this.capacity);
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
    if (isKvBuffer(this.kv)) this.kv = this.kv.reserve(start + tokens.length, this.capacity);
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: PastKv, tokens: number[]): void {
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
    if (isKvBuffer(old)) {
      evictInPlace(old, sinks, e, this.rope);
    } else {
      this.kv = await this.editor.evict!(old, sinks, e);
      disposeKv(old);
    }
    this.tokens.splice(sinks, e);
    this.original.splice(sinks, e);
  }

  kvBytes(): number {
    return isKvBuffer(this.kv) ? this.kv.bytes : kvBytes(this.kv);
  }

  contents(): CacheContents {
    const kv = this.kv;
    return {
      tokens: [...this.tokens],
      originalPositions: [...this.original],
      cachePositions: this.tokens.map((_, i) => i),
      // a buffer's KV is copied out only when read (snapshots, forks), not for every look at the tokens
      get kv(): CacheKv[] {
        return isKvBuffer(kv) ? kv.compact() : kv;
      },
      totalTokensSeen: this.seen,
      history: [],
      sinks: this.sinks,
    };
  }

  restore(c: CacheContents): void {
    disposeKv(this.kv);
    this.kv = restoredCacheKv(this.editor, c.kv, c.tokens.length, this.capacity);
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
    this.kv = this.emptyKv();
    this.tokens = [];
    this.original = [];
    this.seen = 0;
    this.sinks = this.spec.name === 'sink' ? this.spec.sink : 0;
  }
}
