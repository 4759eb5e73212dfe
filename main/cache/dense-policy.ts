import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, isKvBuffer, kvBytes, type CacheKv, type KvEditor, type KvGeometry, type PastKv } from '../engine/layer-kv.js';
import { ContextFullError } from '../policy/policy.js';
import { freshCacheKv, restoredCacheKv } from './cache-kv.js';
import { keepFirstTokens, truncatableKv } from './kv-truncate.js';

/**
 * Keeps every token's KV at its absolute position: exact, but memory and per-token cost grow with the stream, and
 * it stops at `maxLength` (the model's context: positions past it were never trained for).
 * Where the model offers a KV buffer (`editor.createBuffer`), the KV lives in one that grows as it fills, so a
 * run appends to it instead of returning a copy of everything.
 */
export class DensePolicy implements CachePolicy {
  private kv: PastKv;
  private tokens: number[] = [];

  constructor(
    readonly spec: PolicySpec,
    private readonly geometry: KvGeometry,
    private readonly maxLength = Infinity,
    private readonly editor?: KvEditor,
  ) {
    this.kv = this.emptyKv();
  }

  private emptyKv(): PastKv {
    return freshCacheKv(this.editor, this.geometry, this.maxLength);
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
    if (isKvBuffer(this.kv)) this.kv = this.kv.reserve(start + tokens.length, this.maxLength);
    return { ids: tokens, positions: tokens.map((_, i) => start + i), past: this.kv };
  }

  commit(present: PastKv, tokens: number[]): void {
    if (present !== this.kv) disposeKv(this.kv);
    this.kv = present;
    this.tokens.push(...tokens);
  }

  /** a dense cache never evicts: any run that fits can be taken back, where its KV is on the host */
  draftRoom(): number {
    return isKvBuffer(this.kv) || truncatableKv(this.kv) ? this.room() : Math.min(1, this.room());
  }

  rollback(n: number): void {
    if (n <= 0) return;
    if (isKvBuffer(this.kv)) this.kv.truncate(n);
    else this.kv = keepFirstTokens(this.kv, this.length - n, this.geometry);
    this.tokens.length -= n;
  }

  pinPrefix(): void {}

  kvBytes(): number {
    return isKvBuffer(this.kv) ? this.kv.bytes : kvBytes(this.kv);
  }

  contents(): CacheContents {
    const positions = this.tokens.map((_, i) => i);
    const kv = this.kv;
    return {
      tokens: [...this.tokens],
      originalPositions: positions,
      cachePositions: positions,
      // a buffer's KV is copied out only when read (snapshots, forks)
      get kv(): CacheKv[] {
        return isKvBuffer(kv) ? kv.compact() : kv;
      },
      totalTokensSeen: this.length,
      history: [],
      sinks: 0,
      // a chunked snapshot's new rows: only they are copied (a dense cache never turns its keys)
      kvRows: isKvBuffer(kv) ? (indices) => kv.rows(indices) : undefined,
    };
  }

  restore(c: CacheContents): void {
    disposeKv(this.kv);
    this.kv = restoredCacheKv(this.editor, c.kv, c.tokens.length, this.maxLength);
    this.tokens = [...c.tokens];
  }

  dispose(): void {
    this.reset();
  }

  reset(): void {
    disposeKv(this.kv);
    this.kv = this.emptyKv();
    this.tokens = [];
  }
}
