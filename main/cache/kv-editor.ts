import { isHost, kvLength, toHostKv, type CacheKv, type KvEditor, type KvGeometry } from '../engine/layer-kv.js';
import { allocLike, type HostKvArray } from '../engine/kv-dtype.js';
import type { RopeSpec } from '../engine/model-config.js';
import { rotateKeys } from './rope-rotation.js';
import type { KvBuffer } from '../engine/kv-buffer.js';

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
 * dropped tokens (values by copyWithin, keys turned back by `drop` positions as they move: one RoPE delta for all).
 */
export function evictInPlace(buffer: KvBuffer, keep: number, drop: number, rope: RopeSpec): void {
  const { kvHeads, headDim } = buffer.geometry;
  const length = buffer.length;
  const stride = buffer.capacity * headDim;
  for (let l = 0; l < buffer.geometry.layers; l++) {
    const value = buffer.values[l];
    for (let h = 0; h < kvHeads; h++) value.copyWithin(h * stride + keep * headDim, h * stride + (keep + drop) * headDim, h * stride + length * headDim);
    rotateKeys(buffer.keys[l], kvHeads, headDim, keep, length - drop, -drop, rope, drop);
  }
  buffer.setLength(length - drop);
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
