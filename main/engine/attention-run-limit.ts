import type { ExecutionProvider } from './execution-provider.js';

/** onnxruntime's fused attention ops, which run their own kernels on WebGPU (the rest of a graph is plain ops). */
const ATTENTION_OPS = new Set(['com.microsoft:GroupQueryAttention', 'com.microsoft:MultiHeadAttention']);

/**
 * Most new tokens one run may hold on WebGPU where the graph's attention is onnxruntime's GroupQueryAttention or
 * MultiHeadAttention: 31. onnxruntime 1.30 routes 32+ new tokens to its one-pass FlashAttention kernel, whose
 * per-tile accumulators (`var qk_1 : vec4<…>;` inside the key loop) are not zeroed again on every pass on Dawn over
 * lavapipe: every query row that spans more than one key tile comes out wrong, and so does the KV after it. Runs
 * under 32 take the split-reduce kernels, which are exact. NVIDIA adapters take another path in that kernel;
 * Intel, AMD, Qualcomm and ARM take this one (docs/results.md says what a real GPU must confirm). Splitting costs a
 * few runs per prompt, so it applies on every adapter. Unlimited elsewhere.
 */
export const WEBGPU_ATTENTION_RUN = 31;

export function attentionRunLimit(provider: ExecutionProvider, ops: readonly string[]): number {
  return provider === 'webgpu' && ops.some((op) => ATTENTION_OPS.has(op)) ? WEBGPU_ATTENTION_RUN : Number.POSITIVE_INFINITY;
}
