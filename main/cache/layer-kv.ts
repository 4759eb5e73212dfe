/**
 * The KV of one decoder layer for one sequence (batch 1), as the model reads and writes it:
 * `key` and `value` are row-major [kvHeads, length, headDim] float32 (keys already rotated by RoPE).
 */
export interface LayerKv {
  key: Float32Array;
  value: Float32Array;
}

export interface KvGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** Number of cached tokens held by one layer's KV. */
export function kvLength(kv: LayerKv, g: KvGeometry): number {
  return kv.key.length / (g.kvHeads * g.headDim);
}

export function emptyKv(g: KvGeometry): LayerKv[] {
  return Array.from({ length: g.layers }, () => ({ key: new Float32Array(0), value: new Float32Array(0) }));
}
