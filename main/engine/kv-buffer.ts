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
 * copying the whole past into a new present every step. Rows [0, length) of each head are valid.
 * Attention does not depend on the order of the past, so the rows need not stay in token order: `drop` fills the
 * rows of dropped tokens with the last rows instead of moving every later token down, and `slotOf` says which row
 * holds which token (in order again in `compact`).
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
  /** the row of each valid token, in token order */
  private readonly slots: Int32Array;
  /** slots[i] = i for every valid token (nothing dropped since the last load) */
  private ordered = true;

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
    this.slots = new Int32Array(capacity); // filled as tokens arrive (setLength)
  }

  /** valid tokens per head */
  get length(): number {
    return this.filled;
  }

  /** the model wrote `n − length` more tokens after the valid rows (GroupQueryAttention in place) */
  setLength(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.capacity) throw new RangeError(`A KV buffer of ${this.capacity} tokens cannot hold ${n}.`);
    if (n < this.filled) throw new RangeError(`A KV buffer's tokens go by drop, not by a shorter length (${n} < ${this.filled}).`);
    for (let i = this.filled; i < n; i++) this.slots[i] = i;
    this.filled = n;
  }

  /**
   * Takes back the last `n` tokens, which the last run appended (rejected drafts of a lookup verify run). Appended
   * tokens sit in rows equal to their index, so the valid rows stay [0, length − n) without moving anything.
   */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.filled) throw new RangeError(`Cannot take back ${n} of ${this.filled} tokens.`);
    for (let i = this.filled - n; i < this.filled; i++) {
      if (this.slots[i] !== i) throw new RangeError(`Token ${i} was not appended by the last run; only those are taken back.`);
    }
    this.filled -= n;
  }

  /** the row that holds token `i` (in token order, 0 ≤ i < length) */
  slotOf(i: number): number {
    return this.slots[i];
  }

  /**
   * Drops tokens [from, from + count): the valid tokens behind the new length move into the rows the dropped ones
   * leave inside it, so at most `count` rows per head move, and rows [0, length − count) stay the valid ones.
   * Returns the rows that moved ([source, destination] pairs), for tests and benches.
   */
  drop(from: number, count: number): [number, number][] {
    const length = this.filled;
    if (!Number.isInteger(from) || !Number.isInteger(count) || from < 0 || count < 0 || from + count > length) {
      throw new RangeError(`Cannot drop tokens ${from}…${from + count - 1} of ${length}.`);
    }
    const kept = length - count;
    const tokenIn = new Int32Array(length); // row → token
    for (let i = 0; i < length; i++) tokenIn[this.slots[i]] = i;
    const holes: number[] = [];
    for (let i = from; i < from + count; i++) if (this.slots[i] < kept) holes.push(this.slots[i]);
    const moves: [number, number][] = [];
    for (let row = kept; row < length; row++) {
      const t = tokenIn[row];
      if (t >= from && t < from + count) continue;
      const hole = holes.pop()!;
      this.copyRow(row, hole);
      this.slots[t] = hole;
      moves.push([row, hole]);
    }
    this.slots.copyWithin(from, from + count, length);
    this.filled = kept;
    this.ordered &&= moves.length === 0;
    return moves;
  }

  private copyRow(from: number, to: number): void {
    const { kvHeads, headDim } = this.geometry;
    for (const a of [...this.keys, ...this.values]) {
      for (let h = 0; h < kvHeads; h++) {
        const base = h * this.capacity * headDim;
        a.copyWithin(base + to * headDim, base + from * headDim, base + (from + 1) * headDim);
      }
    }
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
    this.setLength(at + n);
  }

  /** The valid tokens as exact-size [kvHeads, length, headDim] copies (snapshots, forks, inspection). */
  compact(): LayerArrays[] {
    return this.keys.map((key, l) => ({ key: this.gather(key), value: this.gather(this.values[l]) }));
  }

  /**
   * Copies of some valid tokens only (ascending indices), as [kvHeads, tokens.length, headDim] arrays: a chunked
   * snapshot reads the rows it has not stored yet, not the whole cache.
   */
  rows(tokens: readonly number[]): LayerArrays[] {
    const { kvHeads, headDim } = this.geometry;
    const n = tokens.length;
    const pick = (a: HostKvArray): HostKvArray => {
      const out = allocKv(this.dtype, kvHeads * n * headDim);
      for (let h = 0; h < kvHeads; h++) {
        const src = h * this.capacity * headDim;
        for (let i = 0; i < n; i++) {
          const row = src + this.slots[tokens[i]] * headDim;
          out.set(a.subarray(row, row + headDim), (h * n + i) * headDim);
        }
      }
      return out;
    };
    return this.keys.map((key, l) => ({ key: pick(key), value: pick(this.values[l]) }));
  }

  /** Replaces the contents with exact-size [kvHeads, length, headDim] arrays of `length` tokens. */
  load(kv: LayerArrays[], length: number): void {
    const { kvHeads, headDim } = this.geometry;
    this.filled = 0;
    this.ordered = true;
    this.setLength(length);
    kv.forEach((layer, l) => {
      for (const [src, dst] of [[layer.key, this.keys[l]], [layer.value, this.values[l]]]) {
        for (let h = 0; h < kvHeads; h++) dst.set(src.subarray(h * length * headDim, (h + 1) * length * headDim), h * this.capacity * headDim);
      }
    });
  }

  private gather(a: HostKvArray): HostKvArray {
    const { kvHeads, headDim } = this.geometry;
    const n = this.filled;
    const out = allocKv(this.dtype, kvHeads * n * headDim);
    for (let h = 0; h < kvHeads; h++) {
      const src = h * this.capacity * headDim;
      const dst = h * n * headDim;
      if (this.ordered) {
        out.set(a.subarray(src, src + n * headDim), dst);
        continue;
      }
      // runs of tokens in consecutive rows go in one copy (after a drop, all but the moved rows)
      for (let i = 0; i < n; ) {
        let j = i + 1;
        while (j < n && this.slots[j] === this.slots[j - 1] + 1) j++;
        out.set(a.subarray(src + this.slots[i] * headDim, src + (this.slots[j - 1] + 1) * headDim), dst + i * headDim);
        i = j;
      }
    }
    return out;
  }
}
