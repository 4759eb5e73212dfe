import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genaiModelDir } from '../../native-models/layout-fixtures.js';
import { testModelDir } from '../../native-models/test-models.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { createPolicy } from '../cache/create-policy.js';
import { Engine } from './engine.js';
import { Model } from './model.js';

const POLICIES: PolicySpec[] = [
  { ...DEFAULT_POLICY, name: 'dense' },
  { ...DEFAULT_POLICY, name: 'window', sink: 0, window: 12, evictChunk: 4 },
  { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 10, evictChunk: 3 },
  { ...DEFAULT_POLICY, name: 'recompute', window: 12 },
];

async function stepLogits(model: Model, spec: PolicySpec, tokens: number[]): Promise<Float32Array[]> {
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
  const out: Float32Array[] = [];
  for (const t of tokens) out.push((await engine.feed([t])).slice());
  return out;
}

describe('onnxruntime-genai folders', () => {
  for (const [name, opts] of [
    ['default RoPE', {}],
    ['llama3-scaled RoPE, theta 500000', { ropeTheta: 500000, ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }],
  ] as const) {
    it(`load from genai_config.json without config.json, RoPE read from the graph's tables (${name}), and match the reference for every policy`, async () => {
      const dir = genaiModelDir(opts);
      expect(existsSync(join(dir, 'config.json'))).toBe(false);
      const genai = await Model.load(dir);
      const reference = await Model.load(testModelDir(opts));
      expect(genai.variant).toMatchObject({ name: 'genai', file: 'model.onnx', dataFiles: ['model.onnx.data'] });
      expect(genai.layout.positionIds).toBe(false);
      expect(genai.config.maxPositions).toBe(reference.config.maxPositions);
      genai.config.rope.invFreq.forEach((f, i) => expect(Math.abs(f - reference.config.rope.invFreq[i]) / reference.config.rope.invFreq[i]).toBeLessThan(1e-5));
      const tokens = Array.from({ length: 30 }, (_, i) => 40 + ((i * 53) % 400));
      for (const spec of POLICIES) {
        const a = await stepLogits(genai, spec, tokens);
        const b = await stepLogits(reference, spec, tokens);
        let worst = 0;
        a.forEach((row, r) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[r][i])))));
        expect(worst, spec.name).toBeLessThan(1e-4);
      }
      await Promise.all([genai.dispose(), reference.dispose()]);
    });
  }
});
