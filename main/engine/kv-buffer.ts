import ort from 'onnxruntime-node';
import { allocKv, type HostKvArray, type KvDtype } from './kv-dtype.js';
import type { KvGeometry, LayerKv } from './layer-kv.js';

/**
 * A cache's KV in fixed-capacity host buffers that the model's graph writes into in place: every layer's key and
 * value is one [kvHeads, capacity, headDim] array, fed as both the past and the (preallocated) present of a run,
 * so GroupQueryAttention appends the new tokens' KV where it belongs (its shared past/present buffer) instead of
 * copying the whole past into a new present every step. Tokens [0, length) of each head are valid.
 */
export class KvBuffer {
  readonly keys: HostKvArray[];
  readonly values: HostKvArray[];
  /** the buffers as onnxruntime tensors (the same memory), made once */
  private readonly tensors: { key: ort.Tensor; value: ort.Tensor }[];
  private filled = 0;

  constructor(
    readonly geometry: KvGeometry,
    readonly capacity: number,
    readonly dtype: KvDtype,
  ) {
    const { layers, kvHeads, headDim } = geometry;
    const size = kvHeads * capacity * headDim;
    this.keys = Array.from({ length: layers }, () => allocKv(dtype, size));
    this.values = Array.from({ length: layers }, () => allocKv(dtype, size));
    const dims = [1, kvHeads, capacity, headDim];
    this.tensors = this.keys.map((key, l) => ({ key: new ort.Tensor(dtype, key, dims), value: new ort.Tensor(dtype, this.values[l], dims) }));
  }

  /** valid tokens per head */
  get length(): number {
    return this.filled;
  }

  /** the model wrote `n` more tokens, or an eviction dropped some */
  setLength(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.capacity) throw new RangeError(`A KV buffer of ${this.capacity} tokens cannot hold ${n}.`);
    this.filled = n;
  }

  /** bytes allocated (the whole capacity, used or not) */
  get bytes(): number {
    return this.keys.reduce((s, k, l) => s + k.byteLength + this.values[l].byteLength, 0);
  }

  tensor(layer: number, which: 'key' | 'value'): ort.Tensor {
    return this.tensors[layer][which];
  }

  /** This buffer if it holds `needed` tokens, else a larger one (doubling, up to `max`) with the same contents. */
  reserve(needed: number, max: number): KvBuffer {
    if (needed <= this.capacity) return this;
    if (needed > max) throw new RangeError(`A KV buffer of at most ${max} tokens cannot hold ${needed}.`);
    const grown = new KvBuffer(this.geometry, Math.min(max, Math.max(needed, 2 * this.capacity)), this.dtype);
    grown.load(this.compact(), this.filled);
    return grown;
  }

  /** The valid tokens as exact-size [kvHeads, length, headDim] copies (snapshots, forks, inspection). */
  compact(): LayerKv[] {
    return this.keys.map((key, l) => ({ key: this.gather(key), value: this.gather(this.values[l]) }));
  }

  /** Replaces the contents with exact-size [kvHeads, length, headDim] arrays of `length` tokens. */
  load(kv: LayerKv[], length: number): void {
    const { kvHeads, headDim } = this.geometry;
    this.setLength(length);
    kv.forEach((layer, l) => {
      for (const [src, dst] of [[layer.key, this.keys[l]], [layer.value, this.values[l]]]) {
        for (let h = 0; h < kvHeads; h++) dst.set(src.subarray(h * length * headDim, (h + 1) * length * headDim), h * this.capacity * headDim);
      }
    });
  }

  private gather(a: HostKvArray): HostKvArray {
    const { kvHeads, headDim } = this.geometry;
    const row = this.filled * headDim;
    const out = allocKv(this.dtype, kvHeads * row);
    for (let h = 0; h < kvHeads; h++) out.set(a.subarray(h * this.capacity * headDim, h * this.capacity * headDim + row), h * row);
    return out;
  }
}
