import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Engine } from '../engine/engine.js';
import type { LayerKv } from '../engine/layer-kv.js';
import { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { createPolicy } from './create-policy.js';

const POLICIES: PolicySpec[] = [
  { name: 'dense', sink: 0, window: 512, evictChunk: 16, pinSystem: false },
  { name: 'sink', sink: 4, window: 24, evictChunk: 8, pinSystem: false },
  { name: 'window', sink: 0, window: 20, evictChunk: 4, pinSystem: false },
];

/** Rows `indices` of [kvHeads, n, headDim] layer arrays. */
function pick(kv: LayerKv[], kvHeads: number, headDim: number, indices: number[]): number[][] {
  return kv.map((l) => {
    const n = l.key.length / (kvHeads * headDim);
    const out: number[] = [];
    for (const a of [l.key, l.value]) {
      for (let h = 0; h < kvHeads; h++) for (const i of indices) out.push(...a.subarray((h * n + i) * headDim, (h * n + i + 1) * headDim));
    }
    return out;
  });
}

describe('reading some rows of an in-place KV buffer', () => {
  it('gives exactly those rows of the whole cache, keys at their cache positions, after evictions', async () => {
    // the appending graph keeps its KV in one in-place buffer (with an offset for RoPE once the sink cache evicts)
    const model = await Model.load(testModelDir({ graph: { layout: 'appending' } }));
    const { kvHeads, headDim } = model.geometry;
    for (const spec of POLICIES) {
      const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
      await engine.feed(Array.from({ length: 70 }, (_, i) => 5 + ((i * 7) % 50)), { chunk: 9 });
      const c = engine.policy.contents();
      expect(c.kvRows, spec.name).toBeDefined();
      const n = c.tokens.length;
      const indices = [0, 1, Math.floor(n / 2), Math.floor(n / 2) + 1, n - 1];
      const whole = pick(c.kv as LayerKv[], kvHeads, headDim, indices);
      const rows = pick(c.kvRows!(indices), kvHeads, headDim, [0, 1, 2, 3, 4]);
      expect(rows, spec.name).toEqual(whole);
      engine.policy.dispose();
    }
    await model.dispose();
  });
});
