import { isHost, kvLength, toHostKv, type CacheKv, type KvEditor, type KvGeometry } from '../engine/layer-kv.js';
import { allocLike, type HostKvArray } from '../engine/kv-dtype.js';
import type { RopeSpec } from '../engine/model-config.js';
import { rotateKeys } from './rope-rotation.js';
import type { KvBuffer } from '../engine/kv-buffer.js';
import { simdRotate } from './rope-simd.js';

/** Edits host arrays in JavaScript (the CPU path: no graph launch overhead for tiny edits), in their own dtype. */
export class HostKvEditor implements KvEditor {
  constructor(
    private readonly g: KvGeometry,
    private readonly rope: RopeSpec,
  ) {}

  async evict(kv: CacheKv[], keep: number, drop: number): Promise<CacheKv[]> {
    const { kvHeads, headDim } = this.g;
    const host = await toHostKv(kv); // a no-op for host arrays
    return host.map((layer, l) => {
      const length = kvLength(kv[l], this.g);
      const key = dropRange(layer.key, kvHeads, headDim, length, keep, drop);
      rotateKeys(key, kvHeads, headDim, keep, length - drop, -drop, this.rope);
      return { key, value: dropRange(layer.value, kvHeads, headDim, length, keep, drop) };
    });
  }
}

/**
 * Turns the keys in rows [from, to) of every head and layer of a buffer by `delta` positions, where they are: four
 * pairs at a time with WebAssembly SIMD where it applies, else in JavaScript. Dims beyond rotaryDim stay.
 */
export function turnKeyRows(buffer: KvBuffer, from: number, to: number, delta: number, rope: RopeSpec): void {
  if (delta === 0 || to <= from) return;
  const { kvHeads, headDim } = buffer.geometry;
  const stride = buffer.capacity * headDim;
  const simd = simdTurn(buffer, rope, delta);
  for (const key of buffer.keys) {
    if (!simd) {
      rotateKeys(key, kvHeads, headDim, from, to, delta, rope);
      continue;
    }
    for (let h = 0; h < kvHeads; h++) {
      const at = key.byteOffset + (h * stride + from * headDim) * 4;
      simd(at, at, to - from, headDim * 4);
    }
  }
}

/** Copies of the keys in rows [0, n) of every layer, [kvHeads, n, headDim] each (a cache's sinks, kept unturned). */
export function copyKeyRows(buffer: KvBuffer, n: number): HostKvArray[] {
  const { kvHeads, headDim } = buffer.geometry;
  return buffer.keys.map((key) => {
    const out = allocLike(key, kvHeads * n * headDim);
    for (let h = 0; h < kvHeads; h++) out.set(key.subarray(h * buffer.capacity * headDim, (h * buffer.capacity + n) * headDim), h * n * headDim);
    return out;
  });
}

/** Writes copyKeyRows' arrays back into rows [0, n). */
export function writeKeyRows(buffer: KvBuffer, rows: HostKvArray[], n: number): void {
  const { kvHeads, headDim } = buffer.geometry;
  rows.forEach((r, l) => {
    for (let h = 0; h < kvHeads; h++) buffer.keys[l].set(r.subarray(h * n * headDim, (h + 1) * n * headDim), h * buffer.capacity * headDim);
  });
}

/**
 * The SIMD kernel for this buffer and turn (cos/sin of delta × frequency written to the buffer's scratch), or null
 * where it does not apply: float16 keys, interleaved pairs, a rotary half not a multiple of 4, no wasm memory.
 */
function simdTurn(buffer: KvBuffer, rope: RopeSpec, delta: number): ((dst: number, src: number, rows: number, rowBytes: number) => void) | null {
  const half = rope.rotaryDim / 2;
  if (!buffer.memory || buffer.dtype !== 'float32' || rope.style !== 'rotate_half' || half % 4 !== 0) return null;
  const rot = simdRotate(buffer.memory);
  if (!rot) return null;
  const { scratch } = buffer;
  const sinAt = buffer.geometry.headDim;
  for (let i = 0; i < half; i++) {
    scratch[i] = Math.cos(delta * rope.invFreq[i]);
    scratch[sinAt + i] = Math.sin(delta * rope.invFreq[i]);
  }
  return (dst, src, rows, rowBytes) => rot(dst, src, rows, rowBytes, half * 4, scratch.byteOffset, scratch.byteOffset + sinAt * 4);
}

/** Copies [heads, length, dim] without tokens [from, from + count) of every head. */
function dropRange(src: HostKvArray, heads: number, dim: number, length: number, from: number, count: number): HostKvArray {
  const newLength = length - count;
  const out = allocLike(src, heads * newLength * dim);
  for (let h = 0; h < heads; h++) {
    const s = h * length * dim;
    const d = h * newLength * dim;
    out.set(src.subarray(s, s + from * dim), d);
    out.set(src.subarray(s + (from + count) * dim, s + length * dim), d + from * dim);
  }
  return out;
}
