import type { RopeSpec } from '../engine/model-config.js';
import { fromFloat32, toFloat32, type HostKvArray } from '../engine/kv-dtype.js';

/**
 * Rotates cached keys in place by `delta` positions. RoPE turns each pair of dims by position × frequency, and
 * rotations compose, so a key computed at position p and turned by −k equals the key computed at p − k.
 * Keys are [kvHeads, length, headDim]; only tokens [from, to) change; dims beyond rotaryDim are not rotary.
 * With `shift`, token t takes the turned key of token t + shift (an eviction's move and turn in one pass).
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
  shift = 0,
): void {
  if ((delta === 0 && shift === 0) || to <= from) return;
  if (keys instanceof Uint16Array) {
    const wide = toFloat32(keys);
    rotateKeys(wide, kvHeads, headDim, from, to, delta, rope, shift);
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
  const offset = shift * headDim; // rows are read ahead of where they are written, so moving down is safe
  for (let h = 0; h < kvHeads; h++) {
    for (let t = from; t < to; t++) {
      const base = (h * length + t) * headDim;
      for (let i = 0, ia = base; i < half; i++, ia += step) {
        const ib = ia + partner;
        const x1 = keys[ia + offset];
        const x2 = keys[ib + offset];
        keys[ia] = x1 * cos[i] - x2 * sin[i];
        keys[ib] = x2 * cos[i] + x1 * sin[i];
      }
      for (let d = rope.rotaryDim; offset !== 0 && d < headDim; d++) keys[base + d] = keys[base + d + offset];
    }
  }
}
