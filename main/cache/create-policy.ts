import type { ModelConfig } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { CachePolicy } from '../engine/cache-policy.js';
import { DensePolicy } from './dense-policy.js';
import { RecomputePolicy } from './recompute-policy.js';
import { SinkPolicy } from './sink-policy.js';
import { WindowPolicy } from './window-policy.js';
import type { KvEditor } from '../engine/layer-kv.js';

/**
 * `editor` does the evictions: the model's own (an ONNX graph on its provider when KV lives on the GPU) or the host
 * one. A dense cache stops at the model's context unless `beyondContext` (evaluations that measure what happens
 * past it).
 */
export function createPolicy(spec: PolicySpec, config: ModelConfig, editor?: KvEditor, opts: { beyondContext?: boolean } = {}): CachePolicy {
  const geometry = { layers: config.layers, kvHeads: config.kvHeads, headDim: config.headDim };
  switch (spec.name) {
    case 'dense':
      return new DensePolicy(spec, geometry, opts.beyondContext ? Infinity : config.maxPositions, editor);
    case 'window':
      return new WindowPolicy(spec, geometry, config.rope, editor);
    case 'recompute':
      return new RecomputePolicy(spec, geometry);
    case 'sink':
      return new SinkPolicy(spec, geometry, config.rope, editor);
  }
}
