import type { ModelConfig } from '../main/engine/model-config.js';
import { buildFusedLlamaOnnx } from './fused-llama-graph.js';
import { buildReferenceLlamaOnnx } from './llama-graph.js';
import type { WeightFormat, WeightSource } from './graph/linear-layers.js';

export const GRAPH_LAYOUTS = ['appending', 'fused', 'reference'] as const;
/**
 * appending: onnxruntime's fused operators, with attention over the caller's KV buffer and only the new tokens'
 * KV as outputs (no per-step KV copies: the layout the project converts to for the CPU);
 * fused: the same operators with GroupQueryAttention and the standard present outputs, the layout
 * onnxruntime-genai's builder writes (no position_ids input);
 * reference: plain ONNX operators, kept as the independent reference the fused graphs are tested against.
 */
export type GraphLayout = (typeof GRAPH_LAYOUTS)[number];

export interface GraphOptions extends Partial<WeightFormat> {
  layout?: GraphLayout;
}

/** The ONNX decoder for a Llama-family config and its weights, in the chosen layout and weight format. */
export function buildDecoderOnnx(shape: ModelConfig, weights: WeightSource, opts: GraphOptions = {}): Uint8Array {
  const format: WeightFormat = { dtype: opts.dtype ?? 'fp32', scales: opts.scales, accuracyLevel: opts.accuracyLevel, blockSize: opts.blockSize };
  const layout = opts.layout ?? 'appending';
  if (layout === 'reference') return buildReferenceLlamaOnnx(shape, weights, format);
  return buildFusedLlamaOnnx(shape, weights, format, layout === 'appending' ? 'appending' : 'gqa');
}
