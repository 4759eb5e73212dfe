import type { ModelConfig } from '../main/engine/model-config.js';
import { buildFusedLlamaOnnx } from './fused-llama-graph.js';
import { buildReferenceLlamaOnnx } from './llama-graph.js';
import type { WeightFormat, WeightSource } from './graph/linear-layers.js';

export const GRAPH_LAYOUTS = ['fused', 'reference'] as const;
/**
 * fused: onnxruntime's fused operators, the fast layout the project ships (no position_ids input);
 * reference: plain ONNX operators, kept as the independent reference the fused graph is tested against.
 */
export type GraphLayout = (typeof GRAPH_LAYOUTS)[number];

export interface GraphOptions extends Partial<WeightFormat> {
  layout?: GraphLayout;
}

/** The ONNX decoder for a Llama-family config and its weights, in the chosen layout and weight format. */
export function buildDecoderOnnx(shape: ModelConfig, weights: WeightSource, opts: GraphOptions = {}): Uint8Array {
  const format: WeightFormat = { dtype: opts.dtype ?? 'fp32', scales: opts.scales, accuracyLevel: opts.accuracyLevel };
  const build = (opts.layout ?? 'fused') === 'fused' ? buildFusedLlamaOnnx : buildReferenceLlamaOnnx;
  return build(shape, weights, format);
}
