import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents, CachePolicy, RunPlan } from '../engine/cache-policy.js';
import { disposeKv, isKvBuffer, kvBytes, type CacheKv, type KvGeometry, type PastKv } from '../engine/layer-kv.js';
import type { KvBuffer } from '../engine/kv-buffer.js';
import type { KvEditor } from '../engine/layer-kv.js';
import { copyKeyRows, HostKvEditor, turnKeyRows, writeKeyRows } from './kv-editor.js';
import { freshCacheKv, restoredCacheKv } from './cache-kv.js';
import { rotateKeys } from './rope-rotation.js';
import { keepFirstTokens, truncatableKv } from './kv-truncate.js';
import type { HostKvArray } from '../engine/kv-dtype.js';

/**
 * A bounded cache of `sinks` first tokens plus the most recent `window` tokens, with positions assigned inside
 * the cache (StreamingLLM). When full, the oldest `evictChunk` window tokens go at once and every remaining
 * window key is turned back by that many positions, so cache index = position id always; sinks never change.
 * With zero sinks this is the plain sliding window.
 * Where the model's graph writes its KV in place (`editor.createBuffer`), the cache keeps it in one fixed buffer
 * and evicts inside it; otherwise it holds each run's present arrays and the editor makes new ones on eviction.
 * In a buffer the evicted rows are refilled from its end (attention is order-free over the past), and where the
 * graph takes position ids (`editor.positionLimit`) no kept key turns either: RoPE scores depend only on the
 * distance between query and key, so the cache encodes every token `offset` positions after its cache index and
 * an eviction instead turns the sinks' keys forward (from an unturned copy, so no error piles up) and raises the
 * offset. Before positions would pass the limit, every key turns back once (offset 0); snapshots and forks always
 * get the keys at their cache index.
 */
export class RollingCache implements CachePolicy {
  private kv: PastKv;
  private readonly editor: KvEditor;
  private tokens: number[] = [];
  private original: number[] = [];
  private seen = 0;
  private sinks: number;
  /** every key in the buffer is encoded this many positions after its cache index */
  private offset = 0;
  /** the sinks' keys at offset 0, while the offset is not */
  private sinkKeys: HostKvArray[] | null = null;

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
    if (this.offset && start + tokens.length + this.offset > (this.editor.positionLimit ?? 0)) this.rebase();
    const at = start + this.offset;
    return { ids: tokens, positions: tokens.map((_, i) => at + i), past: this.kv };
  }

  commit(present: PastKv, tokens: number[]): void {
    if (present !== this.kv) disposeKv(this.kv);
    this.kv = present;
    for (const t of tokens) {
      this.tokens.push(t);
      this.original.push(this.seen++);
    }
  }

  /**
   * A run of up to room() tokens evicts exactly what the first of them alone would (nothing, or evictCount when
   * full), so a verify run never crosses an eviction the plain decode would make later. Near a rebase (once per
   * positionLimit − capacity tokens) a run holds one token, so keys turn back where plain decoding turns them.
   */
  draftRoom(): number {
    const room = this.room();
    if (!isKvBuffer(this.kv) && !truncatableKv(this.kv)) return 1;
    if (this.offset && this.length + this.offset + room + 1 > (this.editor.positionLimit ?? 0)) return 1;
    return room;
  }

  /** Takes back the last run's last `n` tokens: they were appended after any eviction of that run's plan. */
  rollback(n: number): void {
    if (n <= 0) return;
    if (n > this.length - Math.min(this.sinks, this.length)) throw new RangeError(`Cannot take back ${n} tokens.`);
    if (isKvBuffer(this.kv)) this.kv.truncate(n);
    else this.kv = keepFirstTokens(this.kv, this.length - n, this.geometry);
    this.tokens.length -= n;
    this.original.length -= n;
    this.seen -= n;
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
      old.drop(sinks, e);
      if (this.editor.positionLimit) {
        this.sinkKeys ??= copyKeyRows(old, sinks);
        this.offset += e;
        writeKeyRows(old, this.sinkKeys, sinks);
        turnKeyRows(old, 0, sinks, this.offset, this.rope);
      } else {
        turnKeyRows(old, sinks, old.length, -e, this.rope);
      }
    } else {
      this.kv = await this.editor.evict!(old, sinks, e);
      disposeKv(old);
    }
    this.tokens.splice(sinks, e);
    this.original.splice(sinks, e);
  }

  /** Turns every key in the buffer back to its cache index (offset 0). */
  private rebase(): void {
    const buffer = this.kv as KvBuffer;
    const sinks = Math.min(this.sinks, buffer.length);
    turnKeyRows(buffer, sinks, buffer.length, -this.offset, this.rope);
    if (this.sinkKeys) writeKeyRows(buffer, this.sinkKeys, sinks);
    this.offset = 0;
    this.sinkKeys = null;
  }

  kvBytes(): number {
    return isKvBuffer(this.kv) ? this.kv.bytes : kvBytes(this.kv);
  }

  contents(): CacheContents {
    const kv = this.kv;
    const { offset, geometry, rope } = this;
    return {
      tokens: [...this.tokens],
      originalPositions: [...this.original],
      cachePositions: this.tokens.map((_, i) => i),
      // a buffer's KV is copied out only when read (snapshots, forks), not for every look at the tokens
      get kv(): CacheKv[] {
        if (!isKvBuffer(kv)) return kv;
        const layers = kv.compact();
        for (const l of layers) rotateKeys(l.key, geometry.kvHeads, geometry.headDim, 0, kv.length, -offset, rope);
        return layers;
      },
      totalTokensSeen: this.seen,
      history: [],
      sinks: this.sinks,
      // a chunked snapshot's new rows: only they are copied (and turned back by the offset)
      kvRows: isKvBuffer(kv)
        ? (indices) => {
            const layers = kv.rows(indices);
            for (const l of layers) rotateKeys(l.key, geometry.kvHeads, geometry.headDim, 0, indices.length, -offset, rope);
            return layers;
          }
        : undefined,
    };
  }

  restore(c: CacheContents): void {
    disposeKv(this.kv);
    this.kv = restoredCacheKv(this.editor, c.kv, c.tokens.length, this.capacity);
    this.tokens = [...c.tokens];
    this.original = [...c.originalPositions];
    this.seen = c.totalTokensSeen;
    this.sinks = c.sinks;
    this.offset = 0;
    this.sinkKeys = null;
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
    this.offset = 0;
    this.sinkKeys = null;
  }
}
