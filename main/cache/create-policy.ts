import type { ModelConfig } from '../engine/model-config.js';
import { DEFAULT_POLICY, POLICY_NAMES, type CachePolicy, type PolicySpec } from './cache-policy.js';
import { DensePolicy } from './dense-policy.js';
import { RecomputePolicy } from './recompute-policy.js';
import { SinkPolicy } from './sink-policy.js';
import { WindowPolicy } from './window-policy.js';
import type { KvEditor } from './kv-editor.js';

/**
 * `editor` does the evictions: the model's own (an ONNX graph on its provider when KV lives on the GPU) or the host
 * one. A dense cache stops at the model's context unless `beyondContext` (evaluations that measure what happens
 * past it).
 */
export function createPolicy(spec: PolicySpec, config: ModelConfig, editor?: KvEditor, opts: { beyondContext?: boolean } = {}): CachePolicy {
  const geometry = { layers: config.layers, kvHeads: config.kvHeads, headDim: config.headDim };
  switch (spec.name) {
    case 'dense':
      return new DensePolicy(spec, geometry, opts.beyondContext ? Infinity : config.maxPositions);
    case 'window':
      return new WindowPolicy(spec, geometry, config.rope, editor);
    case 'recompute':
      return new RecomputePolicy(spec, geometry);
    case 'sink':
      return new SinkPolicy(spec, geometry, config.rope, editor);
  }
}

/** Parses "sink:4:1020" (name:sink:window) as the CLI and A/B runs write policies. */
export function parsePolicy(text: string, base: Partial<PolicySpec> = {}): PolicySpec {
  const [name, sink, window] = text.split(':');
  if (!(POLICY_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`Unknown cache policy "${name}": use one of ${POLICY_NAMES.join(', ')}.`);
  }
  const num = (v: string | undefined, fallback: number, what: string): number => {
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`The ${what} in "${text}" must be a whole number.`);
    return n;
  };
  const merged = { ...DEFAULT_POLICY, ...base, name: name as PolicySpec['name'] };
  return { ...merged, sink: num(sink, merged.sink, 'sink count'), window: num(window, merged.window, 'window size') };
}
