import type { ExecutionProvider } from './execution-provider.js';

/** onnxruntime's fused attention ops, which run their own kernels on WebGPU (the rest of a graph is plain ops). */
const ATTENTION_OPS = new Set(['com.microsoft:GroupQueryAttention', 'com.microsoft:MultiHeadAttention']);

/**
 * Most new tokens one run may hold on WebGPU where the graph's attention is onnxruntime's GroupQueryAttention or
 * MultiHeadAttention: 31. From 32 new tokens on, onnxruntime 1.30's WebGPU EP gives those ops wrong scores and
 * writes wrong KV (seen on Mesa's lavapipe; docs/results.md says what a real GPU must confirm). Runs up to 31 are
 * exact, so longer prompts run as several. Unlimited elsewhere.
 */
export const WEBGPU_ATTENTION_RUN = 31;

export function attentionRunLimit(provider: ExecutionProvider, ops: readonly string[]): number {
  return provider === 'webgpu' && ops.some((op) => ATTENTION_OPS.has(op)) ? WEBGPU_ATTENTION_RUN : Number.POSITIVE_INFINITY;
}
