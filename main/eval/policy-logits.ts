import { createPolicy } from '../cache/create-policy.js';
import type { PolicySpec } from '../policy/policy.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';

/**
 * The logits row of every token of a stream under one cache policy, fed `chunk` tokens per run (recompute one
 * token per run: it is exact only for the last token of each run). Tests compare graphs and policies with it.
 */
export async function streamLogits(model: Model, s: PolicySpec, tokens: number[], chunk: number): Promise<Float32Array[]> {
  const engine = new Engine(model, createPolicy(s, model.config, model.kvEditor));
  const rows: Float32Array[] = [];
  const V = model.vocabSize;
  if (s.name === 'recompute') {
    for (const t of tokens) rows.push(Float32Array.from(await engine.feed([t])));
    return rows;
  }
  await engine.feed(tokens, {
    chunk,
    onLogits: (logits, slice) => slice.forEach((_, i) => rows.push(Float32Array.from(logits.subarray(i * V, (i + 1) * V)))),
  });
  return rows;
}
