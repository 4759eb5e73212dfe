import ort from 'onnxruntime-node';
import { allocKv, bytesPerElement, type HostKvArray, type KvDtype } from './kv-dtype.js';
import { wasm, type WasmMemory } from '../shared/wasm.js';

/** Layers, KV heads and head size (layer-kv's KvGeometry; that module refers to this one, so the shape is spelled here). */
interface Geometry {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** One layer's exact-size [kvHeads, length, headDim] arrays (layer-kv's LayerKv). */
interface LayerArrays {
  key: HostKvArray;
  value: HostKvArray;
}

/** Capacities a buffer grows to are multiples of this. */
const GROWTH_STEP_TOKENS = 64;

/** The most a WebAssembly memory holds (65,536 pages of 64 KiB); larger buffers live in plain ArrayBuffers. */
const WASM_MEMORY_BYTES = 2 ** 32 - 2 ** 16;

/**
 * A cache's KV in fixed-capacity host buffers that the model's graph writes into in place: every layer's key and
 * value is one [kvHeads, capacity, headDim] array, fed as both the past and the (preallocated) present of a run,
 * so GroupQueryAttention appends the new tokens' KV where it belongs (its shared past/present buffer) instead of
 * copying the whole past into a new present every step. Tokens [0, length) of each head are valid.
 * All arrays are views of one WebAssembly memory (when it fits), so SIMD code can edit them where they are; its
 * `scratch` (2 × headDim float32 after them) holds what such an edit needs besides (RoPE cos/sin).
 */
export class KvBuffer {
  readonly keys: HostKvArray[];
  readonly values: HostKvArray[];
  readonly memory: WasmMemory | null;
  readonly scratch: Float32Array;
  /** the buffers as onnxruntime tensors (the same memory), made once */
  private readonly tensors: { key: ort.Tensor; value: ort.Tensor }[];
  private filled = 0;

  constructor(
    readonly geometry: Geometry,
    readonly capacity: number,
    readonly dtype: KvDtype,
  ) {
    const { layers, kvHeads, headDim } = geometry;
    const size = kvHeads * capacity * headDim;
    const arrayBytes = Math.ceil((size * bytesPerElement(dtype)) / 16) * 16; // 16-byte aligned for SIMD loads
    const total = 2 * layers * arrayBytes + 2 * headDim * 4;
    this.memory = total <= WASM_MEMORY_BYTES ? new wasm.Memory({ initial: Math.ceil(total / 2 ** 16) }) : null;
    const memory = this.memory?.buffer;
    const at = (i: number): HostKvArray =>
      !memory ? allocKv(dtype, size) : dtype === 'float16' ? new Uint16Array(memory, i * arrayBytes, size) : new Float32Array(memory, i * arrayBytes, size);
    this.keys = Array.from({ length: layers }, (_, l) => at(2 * l));
    this.values = Array.from({ length: layers }, (_, l) => at(2 * l + 1));
    this.scratch = memory ? new Float32Array(memory, 2 * layers * arrayBytes, 2 * headDim) : new Float32Array(2 * headDim);
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

  /** bytes of KV allocated (the whole capacity, used or not) */
  get bytes(): number {
    return this.keys.reduce((s, k, l) => s + k.byteLength + this.values[l].byteLength, 0);
  }

  tensor(layer: number, which: 'key' | 'value'): ort.Tensor {
    return this.tensors[layer][which];
  }

  /**
   * This buffer if it holds `needed` tokens, else a larger one (a quarter more, in steps of 64 tokens, up to `max`)
   * with the same contents. Attention reads the whole capacity, so the unused rows are work too: growing by a
   * quarter keeps them under a fifth of the buffer, and the copies a growth makes add up to a few times the last
   * size.
   */
  reserve(needed: number, max: number): KvBuffer {
    if (needed <= this.capacity) return this;
    if (needed > max) throw new RangeError(`A KV buffer of at most ${max} tokens cannot hold ${needed}.`);
    const step = GROWTH_STEP_TOKENS;
    const grown = new KvBuffer(this.geometry, Math.min(max, Math.ceil(Math.max(needed, 1.25 * this.capacity) / step) * step), this.dtype);
    grown.load(this.compact(), this.filled);
    return grown;
  }

  /**
   * Writes `n` new tokens after the valid ones: each layer's [kvHeads, n, headDim] key and value rows, as an
   * appending graph returns them.
   */
  append(rows: LayerArrays[], n: number): void {
    const { kvHeads, headDim } = this.geometry;
    const at = this.filled;
    if (at + n > this.capacity) throw new RangeError(`A KV buffer of ${this.capacity} tokens cannot take ${n} more after ${at}.`);
    const row = n * headDim;
    rows.forEach((layer, l) => {
      for (const [src, dst] of [[layer.key, this.keys[l]], [layer.value, this.values[l]]]) {
        for (let h = 0; h < kvHeads; h++) dst.set(src.subarray(h * row, (h + 1) * row), (h * this.capacity + at) * headDim);
      }
    });
    this.filled = at + n;
  }

  /** The valid tokens as exact-size [kvHeads, length, headDim] copies (snapshots, forks, inspection). */
  compact(): LayerArrays[] {
    return this.keys.map((key, l) => ({ key: this.gather(key), value: this.gather(this.values[l]) }));
  }

  /** Replaces the contents with exact-size [kvHeads, length, headDim] arrays of `length` tokens. */
  load(kv: LayerArrays[], length: number): void {
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
