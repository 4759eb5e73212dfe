import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { createPolicy } from './create-policy.js';
import { forkCache } from './fork-cache.js';

const spec = (name: PolicySpec['name'], sink: number, window: number): PolicySpec => ({ ...DEFAULT_POLICY, name, sink, window, evictChunk: 8 });

describe('forkCache', () => {
  it('turns a dense cache into the sink cache of its first S and last L tokens, keys re-rotated to their new positions', async () => {
    const model = await Model.load(testModelDir());
    const tokens = Array.from({ length: 40 }, (_, i) => 30 + ((i * 7) % 300));
    const dense = new Engine(model, createPolicy(spec('dense', 0, 1), model.config));
    await dense.feed(tokens, { chunk: 16 });
    const src = dense.policy.contents();
    const forked = forkCache(src, spec('sink', 4, 12), model.geometry, model.config.rope)!;
    expect(forked.tokens).toEqual([...tokens.slice(0, 4), ...tokens.slice(-12)]);
    expect(forked.originalPositions).toEqual([0, 1, 2, 3, ...Array.from({ length: 12 }, (_, i) => 28 + i)]);
    expect(forked.cachePositions).toEqual([...Array(16).keys()]);
    expect(forked.sinks).toBe(4);
    // layer-0 keys depend only on token and position: they must equal a fresh prefill at the new positions
    const fresh = await model.forward(forked.tokens, forked.cachePositions, []);
    let worst = 0;
    forked.kv[0].key.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - fresh.present[0].key[i]))));
    expect(worst).toBeLessThan(1e-4);
    // values carry no position: copied unchanged
    const D = model.geometry.headDim;
    expect(Array.from(forked.kv[1].value.subarray(4 * D, 5 * D))).toEqual(Array.from(src.kv[1].value.subarray(28 * D, 29 * D)));
    await model.dispose();
  });

  it('refuses what the source cannot give: dense after evictions, sinks already evicted, KV from recompute', async () => {
    const model = await Model.load(testModelDir());
    const tokens = Array.from({ length: 60 }, (_, i) => 30 + i);
    const window = new Engine(model, createPolicy(spec('window', 0, 20), model.config));
    await window.feed(tokens);
    const c = window.policy.contents();
    expect(forkCache(c, spec('dense', 0, 1), model.geometry, model.config.rope)).toBeNull();
    expect(forkCache(c, spec('sink', 4, 16), model.geometry, model.config.rope)).toBeNull();
    expect(forkCache(c, spec('window', 0, 8), model.geometry, model.config.rope)?.tokens).toEqual(tokens.slice(-8));
    expect(forkCache(c, spec('recompute', 0, 10), model.geometry, model.config.rope)?.history).toEqual(tokens.slice(-10));
    const recompute = new Engine(model, createPolicy(spec('recompute', 0, 10), model.config));
    await recompute.feed(tokens);
    expect(forkCache(recompute.policy.contents(), spec('sink', 4, 16), model.geometry, model.config.rope)).toBeNull();
    await model.dispose();
  });
});
