import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Model } from '../engine/model.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { evictionTable, measureEvictions } from './evict-bench.js';

describe('bench evict', () => {
  it('takes turns between the in-place buffer and new arrays, and tells eviction steps from normal ones', async () => {
    const model = await Model.load(testModelDir({ graph: { layout: 'fused' } }));
    try {
      const spec = { ...DEFAULT_POLICY, name: 'sink' as const, sink: 4, window: 20, evictChunk: 4 };
      const r = await measureEvictions(model, spec, { steps: 24 });
      expect(r.modes.map((m) => [m.mode, m.inPlace])).toEqual([['in-place', true], ['copies', false]]);
      for (const m of r.modes) {
        expect([m.normal.samples, m.eviction.samples, m.edit.samples]).toEqual([18, 6, 6]); // one eviction of 4 per 4 tokens
        for (const s of [m.normal, m.eviction, m.edit]) expect(Number.isFinite(s.p50Ms) && Number.isFinite(s.cpuP99Ms)).toBe(true);
      }
      expect(r.backToBack?.samples).toBe(8);
      expect(r.rebase).toBeNull(); // no position ids: every eviction turns the kept keys
      expect(evictionTable(r).split('\n')).toHaveLength(2 + 6);
    } finally {
      await model.dispose();
    }
  });

  it('times the turn back to offset 0 where the graph takes position ids (the appending graph)', async () => {
    const model = await Model.load(testModelDir({ graph: { layout: 'appending' } }));
    try {
      const spec = { ...DEFAULT_POLICY, name: 'sink' as const, sink: 4, window: 20, evictChunk: 4 };
      const r = await measureEvictions(model, spec, { steps: 8, modes: ['in-place'] });
      expect(r.modes[0].eviction.samples).toBe(2);
      expect(r.rebase?.everyTokens).toBe(model.config.maxPositions - 24);
      expect(r.rebase?.samples).toBe(8);
      expect(Number.isFinite(r.rebase?.p99Ms)).toBe(true);
    } finally {
      await model.dispose();
    }
  });
});
