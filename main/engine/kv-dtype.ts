import { getFloat16, setFloat16 } from '@petamoriken/float16';

/** The element types a decoder keeps its KV cache (and emits its logits) in. */
export const KV_DTYPES = ['float32', 'float16'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/**
 * A KV array in host memory: float32 values, or float16 values as their IEEE 754 half-precision bit patterns —
 * what onnxruntime-node hands out and takes for 'float16' tensors on Node versions without Float16Array.
 */
export type HostKvArray = Float32Array | Uint16Array;

export function dtypeOf(a: HostKvArray): KvDtype {
  return a instanceof Uint16Array ? 'float16' : 'float32';
}

export function bytesPerElement(dtype: KvDtype): number {
  return dtype === 'float16' ? 2 : 4;
}

export function allocKv(dtype: KvDtype, length: number): HostKvArray {
  return dtype === 'float16' ? new Uint16Array(length) : new Float32Array(length);
}

/** An empty array of the same kind as `like`, `length` elements long. */
export function allocLike(like: HostKvArray, length: number): HostKvArray {
  return allocKv(dtypeOf(like), length);
}

/** The values as float32 (the same array when it already is one). */
export function toFloat32(a: HostKvArray): Float32Array {
  if (a instanceof Float32Array) return a;
  const view = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const out = new Float32Array(a.length);
  for (let i = 0; i < out.length; i++) out[i] = getFloat16(view, 2 * i, true);
  return out;
}

/** float32 values in `dtype` (rounded to nearest even for float16; the same array for float32). */
export function fromFloat32(values: Float32Array, dtype: KvDtype): HostKvArray {
  if (dtype === 'float32') return values;
  const out = new Uint16Array(values.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) setFloat16(view, 2 * i, values[i], true);
  return out;
}
