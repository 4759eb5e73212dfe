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
 * The same eviction inside a fixed-capacity buffer, without allocating: every head's tail moves down over the
 * dropped tokens (values by copyWithin, keys turned back by `drop` positions as they move: one RoPE delta for all,
 * four pairs at a time with WebAssembly SIMD where it applies, else in JavaScript).
 */
export function evictInPlace(buffer: KvBuffer, keep: number, drop: number, rope: RopeSpec): void {
  const { kvHeads, headDim } = buffer.geometry;
  const length = buffer.length;
  const stride = buffer.capacity * headDim;
  const moveDown = (a: HostKvArray) => {
    for (let h = 0; h < kvHeads; h++) a.copyWithin(h * stride + keep * headDim, h * stride + (keep + drop) * headDim, h * stride + length * headDim);
  };
  const simd = simdTurn(buffer, rope, -drop);
  for (let l = 0; l < buffer.geometry.layers; l++) {
    moveDown(buffer.values[l]);
    if (!simd) {
      rotateKeys(buffer.keys[l], kvHeads, headDim, keep, length - drop, -drop, rope, drop);
      continue;
    }
    // whole rows turn while they move; with partial rotary the rows move first and their rotary dims turn in place
    const key = buffer.keys[l];
    const shift = rope.rotaryDim === headDim ? drop : 0;
    if (!shift) moveDown(key);
    for (let h = 0; h < kvHeads; h++) {
      const dst = key.byteOffset + (h * stride + keep * headDim) * 4;
      simd(dst, dst + shift * headDim * 4, length - drop - keep, headDim * 4);
    }
  }
  buffer.setLength(length - drop);
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
