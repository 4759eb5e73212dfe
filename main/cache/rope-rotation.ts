import type { RopeSpec } from '../engine/model-config.js';
import { fromFloat32, toFloat32, type HostKvArray } from '../engine/kv-dtype.js';

/**
 * Rotates cached keys in place by `delta` positions. RoPE turns each pair of dims by position × frequency, and
 * rotations compose, so a key computed at position p and turned by −k equals the key computed at p − k.
 * Keys are [kvHeads, length, headDim]; only tokens [from, to) change; dims beyond rotaryDim are not rotary.
 * float16 keys are turned in float32 and rounded back to float16 once.
 */
export function rotateKeys(
  keys: HostKvArray,
  kvHeads: number,
  headDim: number,
  from: number,
  to: number,
  delta: number,
  rope: RopeSpec,
): void {
  if (delta === 0 || to <= from) return;
  if (keys instanceof Uint16Array) {
    const wide = toFloat32(keys);
    rotateKeys(wide, kvHeads, headDim, from, to, delta, rope);
    keys.set(fromFloat32(wide, 'float16'));
    return;
  }
  const half = rope.rotaryDim / 2;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    cos[i] = Math.cos(delta * rope.invFreq[i]);
    sin[i] = Math.sin(delta * rope.invFreq[i]);
  }
  const length = keys.length / (kvHeads * headDim);
  // rotate_half pairs dim i with i + half; interleaved pairs 2i with 2i + 1 (index arithmetic kept out of the
  // inner loop: an eviction turns every kept key of every layer)
  const step = rope.style === 'rotate_half' ? 1 : 2;
  const partner = rope.style === 'rotate_half' ? half : 1;
  for (let h = 0; h < kvHeads; h++) {
    for (let t = from; t < to; t++) {
      const base = (h * length + t) * headDim;
      for (let i = 0, ia = base; i < half; i++, ia += step) {
        const ib = ia + partner;
        const x1 = keys[ia];
        const x2 = keys[ib];
        keys[ia] = x1 * cos[i] - x2 * sin[i];
        keys[ib] = x2 * cos[i] + x1 * sin[i];
      }
    }
  }
}
