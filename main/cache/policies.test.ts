import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../engine/model.js';
import { Engine } from '../engine/engine.js';
import { createPolicy } from './create-policy.js';
import { DEFAULT_POLICY, type PolicyName, type PolicySpec } from '../policy/policy.js';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { streamLogits } from '../eval/policy-logits.js';

const spec = (name: PolicyName, window: number, sink = 4, evictChunk = 8): PolicySpec => ({
  ...DEFAULT_POLICY,
  name,
  sink,
  window,
  evictChunk,
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const MODELS: [string, () => string][] = [
  ['generated tiny model', () => testModelDir()],
  ['generated tiny model, fused graph (GroupQueryAttention, no position_ids)', () => testModelDir({ graph: { layout: 'fused' } })],
  ['generated model with partial rotary and linear RoPE scaling', () =>
    testModelDir({ partialRotaryFactor: 0.5, ropeScaling: { type: 'linear', factor: 2 }, seed: 11 })],
  ...(fixtureAvailable(FIXTURES.tinystories) ? [['tinystories-656k', () => FIXTURES.tinystories] as [string, () => string]] : []),
  ...(fixtureAvailable(FIXTURES.stories260k) ? [['stories260k', () => FIXTURES.stories260k] as [string, () => string]] : []),
];

const TEXT =
  'Once upon a time there was a little girl named Lily. She liked to walk to the river and watch the water. ' +
  'One day she saw a small bird on a branch. The bird was sad because it could not find its way home. ' +
  'Lily said: "Do not be sad, I will help you." They walked together through the trees until the sun went down.';

describe.each(MODELS)('cache policies on the %s', (_name, dir) => {
  let model: Model;
  let tokens: number[];
  beforeAll(async () => {
    model = await Model.load(dir());
    tokens = model.tokenizer.encode(TEXT, true).slice(0, 48);
    expect(tokens.length).toBeGreaterThanOrEqual(40);
  });
  afterAll(() => model.dispose());

  it('(a) sink and window with L ≥ stream length give the same logits as dense (≤ 1e-5)', async () => {
    const dense = await streamLogits(model, spec('dense', 1), tokens, 7);
    for (const s of [spec('sink', tokens.length, 4), spec('window', tokens.length, 0)]) {
      const got = await streamLogits(model, s, tokens, 7);
      dense.forEach((row, t) => expect(maxAbsDiff(got[t], row)).toBeLessThanOrEqual(1e-5));
    }
  });

  it('(b) after an eviction, re-rotated layer-0 keys equal a fresh prefill of the kept tokens at their new positions (≤ 1e-4)', async () => {
    for (const s of [spec('sink', 20, 4, 8), spec('window', 24, 0, 8)]) {
      const policy = createPolicy(s, model.config);
      const engine = new Engine(model, policy);
      await engine.feed(tokens.slice(0, 30), { chunk: 5 }); // 30 > capacity 24: evictions happened
      const c = policy.contents();
      expect(c.totalTokensSeen).toBe(30);
      expect(c.tokens.length).toBeLessThanOrEqual(24);
      expect(c.originalPositions.some((p, i) => p !== i)).toBe(true); // something was evicted
      if (s.name === 'sink') expect(c.originalPositions.slice(0, 4)).toEqual([0, 1, 2, 3]); // sinks untouched
      const fresh = await model.forward(c.tokens, c.cachePositions, []);
      expect(maxAbsDiff(c.kv[0].key, fresh.present[0].key)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(c.kv[0].value, fresh.present[0].value)).toBeLessThanOrEqual(1e-5);
    }
  });

  it("(c) recompute's logits for token t equal a fresh prefill of its last L tokens", async () => {
    const L = 12;
    const got = await streamLogits(model, spec('recompute', L), tokens, 1);
    for (const t of [0, 5, 11, 12, 25, tokens.length - 1]) {
      const window = tokens.slice(Math.max(0, t - L + 1), t + 1);
      const fresh = await model.forward(window, window.map((_, i) => i), []);
      const V = model.vocabSize;
      expect(maxAbsDiff(got[t], fresh.logits.subarray((window.length - 1) * V))).toBeLessThanOrEqual(1e-5);
    }
  });

  // Runs of different lengths sum in a different order inside MatMul, hence float32 rounding (≤ 1e-4).
  it('(d) chunked prefill gives the same logits as token-by-token, for every policy', async () => {
    for (const s of [spec('dense', 1), spec('window', 16, 0, 4), spec('sink', 12, 4, 4), spec('recompute', 10)]) {
      const single = await streamLogits(model, s, tokens, 1);
      const engine = new Engine(model, createPolicy(s, model.config));
      const rows: Float32Array[] = [];
      const V = model.vocabSize;
      const last = await engine.feed(tokens, {
        chunk: 9,
        onLogits: (l, slice) => slice.forEach((_, i) => rows.push(Float32Array.from(l.subarray(i * V, (i + 1) * V)))),
      });
      expect(maxAbsDiff(last, single[single.length - 1])).toBeLessThanOrEqual(1e-4);
      if (s.name !== 'recompute') single.forEach((row, t) => expect(maxAbsDiff(rows[t], row)).toBeLessThanOrEqual(1e-4));
    }
  });
});

describe('policy behaviour', () => {
  it('keeps memory constant: sink and window never exceed S + L tokens, dense grows', async () => {
    const model = await Model.load(testModelDir());
    const tokens = Array.from({ length: 300 }, (_, i) => 10 + (i % 200));
    const sink = createPolicy(spec('sink', 32, 4, 8), model.config);
    await new Engine(model, sink).feed(tokens, { chunk: 16 });
    expect(sink.length).toBeLessThanOrEqual(36);
    expect(sink.totalTokensSeen).toBe(300);
    expect(sink.kvBytes()).toBeLessThanOrEqual(36 * 2 * 2 * 2 * 16 * 4);
    const dense = createPolicy(spec('dense', 1), model.config);
    await new Engine(model, dense).feed(tokens, { chunk: 64 });
    expect(dense.length).toBe(300);
    await model.dispose();
  });

  it('pins the whole first turn as the sink region', async () => {
    const model = await Model.load(testModelDir());
    const policy = createPolicy({ ...spec('sink', 16, 2, 4), pinSystem: true }, model.config);
    const engine = new Engine(model, policy);
    await engine.feed(Array.from({ length: 10 }, (_, i) => 20 + i));
    policy.pinPrefix(10);
    await engine.feed(Array.from({ length: 60 }, (_, i) => 40 + i), { chunk: 8 });
    const c = policy.contents();
    expect(c.originalPositions.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(c.tokens.length).toBeLessThanOrEqual(26);
    expect(c.sinks).toBe(10);
    await model.dispose();
  });
});
