import type { Tensor } from 'onnxruntime-node';
import { bytesPerElement, type HostKvArray } from './kv-dtype.js';
import type { KvBuffer } from './kv-buffer.js';

/**
 * The KV of one decoder layer for one sequence (batch 1) in host memory: `key` and `value` are row-major
 * [kvHeads, length, headDim] in the model's KV dtype (float32, or float16 bit patterns; keys already rotated by
 * RoPE). Snapshots and forks work on this.
 */
export interface LayerKv {
  key: HostKvArray;
  value: HostKvArray;
}

/** KV as a cache holds it: host arrays, or onnxruntime tensors that may live on the GPU ('gpu-buffer'). */
export type KvData = HostKvArray | Tensor;

export interface CacheKv {
  key: KvData;
  value: KvData;
}

export interface KvGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** What a run attends to and gives back: per-layer KV, or a buffer the graph writes into in place. */
export type PastKv = CacheKv[] | KvBuffer;

export function isKvBuffer(kv: PastKv): kv is KvBuffer {
  return !Array.isArray(kv);
}

/** What a model offers the window and sink caches for their KV, beyond host arrays they edit themselves. */
export interface KvEditor {
  /**
   * keeps the first `keep` tokens, drops the next `drop`, and turns the keys of the rest back by `drop` positions,
   * where the KV lives (a graph on the model's provider); absent: the cache edits its host arrays itself
   */
  evict?(kv: CacheKv[], keep: number, drop: number): Promise<CacheKv[]>;
  /**
   * a buffer of `capacity` tokens that the model's graph writes its present KV into in place (GroupQueryAttention's
   * shared past/present buffer on the CPU); absent where the graph cannot
   */
  createBuffer?(capacity: number): KvBuffer;
  /**
   * Where the graph takes position ids with a buffer: how many positions it encodes (the model's max positions).
   * A cache may then encode every key one offset further than its cache index, so that an eviction turns only the
   * sinks' keys instead of every kept one; absent: new tokens go at the cache length.
   */
  positionLimit?: number;
  /**
   * brings KV to host memory where it lives on a device (a graph whose outputs are on the host); absent where the
   * KV never leaves host memory
   */
  toHost?(kv: CacheKv[]): Promise<LayerKv[]>;
  /** releases what the editor holds (a graph session) */
  dispose?(): Promise<void>;
}

export function isHost(d: KvData): d is HostKvArray {
  return d instanceof Float32Array || d instanceof Uint16Array;
}

/** Number of cached tokens held by one layer's KV. */
export function kvLength(kv: CacheKv, g: KvGeometry): number {
  return isHost(kv.key) ? kv.key.length / (g.kvHeads * g.headDim) : Number(kv.key.dims[2]);
}

/** Bytes held by one KV array, wherever it lives. */
export function kvDataBytes(d: KvData): number {
  if (isHost(d)) return d.byteLength;
  return d.dims.reduce((a, b) => a * Number(b), bytesPerElement(d.type === 'float16' ? 'float16' : 'float32'));
}

export function kvBytes(kv: CacheKv[]): number {
  return kv.reduce((s, l) => s + kvDataBytes(l.key) + kvDataBytes(l.value), 0);
}

/** No tokens yet; the model feeds an empty past in its own KV dtype whatever kind these are. */
export function emptyKv(g: KvGeometry): LayerKv[] {
  return Array.from({ length: g.layers }, () => ({ key: new Float32Array(0), value: new Float32Array(0) }));
}

/**
 * Brings a cache's KV to host memory: device tensors through the editor's download graph (one copy per array), host
 * ones as they are. A device tensor is never read with `getData()`: in onnxruntime-node 1.30 that aborts the process
 * on a 'gpu-buffer' tensor. Without an editor that can download, device KV is refused with an error instead.
 */
export async function toHostKv(kv: CacheKv[], editor?: KvEditor): Promise<LayerKv[]> {
  const onDevice = kv.some((l) => !isHost(l.key) && l.key.location !== 'cpu');
  if (onDevice) {
    if (!editor?.toHost) throw new RangeError('KV on a device can only be read through the model that computed it.');
    return editor.toHost(kv);
  }
  const host = (d: KvData): HostKvArray => (isHost(d) ? d : (d.data as HostKvArray));
  return kv.map((l) => ({ key: host(l.key), value: host(l.value) }));
}

/** Frees GPU memory held by KV tensors that were replaced (host arrays and buffers are left to the garbage collector). */
export function disposeKv(kv: PastKv): void {
  if (isKvBuffer(kv)) return;
  for (const l of kv) {
    for (const d of [l.key, l.value]) if (!isHost(d) && d.location !== 'cpu') d.dispose();
  }
}
