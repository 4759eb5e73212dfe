import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { Model } from '../engine/model.js';
import { testModelDir } from '../../native-models/test-models.js';
import { streamPerplexity } from './stream-ppl.js';
import { percentile } from './percentile.js';

const TEXT =
  'Once upon a time there was a little girl who lived in a village near the forest. She liked to walk to the river. ' +
  'One day she saw a small bird on a branch. The bird was sad because it could not find its way home. ' +
  'The quick brown fox jumps over the lazy dog. A long conversation can go on for days.';

const spec = (name: PolicySpec['name'], sink: number, window: number, evictChunk = 4): PolicySpec => ({
  ...DEFAULT_POLICY,
  name,
  sink,
  window,
  evictChunk,
});

/** −log p(target) from one row, written independently of nll.ts (two-pass softmax in float64). */
function referenceNll(row: Float32Array, target: number): number {
  const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
  const z = row.reduce((s, x) => s + Math.exp(x - max), 0);
  return -Math.log(Math.exp(row[target] - max) / z);
}

describe('streaming perplexity', () => {
  let model: Model;
  let stream: number[];

  beforeAll(async () => {
    model = await Model.load(testModelDir());
    stream = model.tokenizer.encode(TEXT, true);
    expect(stream.length).toBeGreaterThan(60);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('dense: ppl is exp(mean NLL) of a single full forward pass over the same tokens', async () => {
    const r = await streamPerplexity(model, spec('dense', 0, 1024), stream, { keepNll: true });
    const V = model.vocabSize;
    const { logits } = await model.forward(stream.slice(0, -1), stream.slice(0, -1).map((_, i) => i), []);
    let sum = 0;
    for (let t = 0; t + 1 < stream.length; t++) sum += referenceNll(logits.subarray(t * V, (t + 1) * V), stream[t + 1]);
    const expected = Math.exp(sum / (stream.length - 1));
    expect(r.tokens).toBe(stream.length - 1);
    expect(r.complete).toBe(true);
    expect(r.exact).toBe(true);
    expect(Math.abs(r.ppl - expected) / expected).toBeLessThan(1e-4);
    expect(r.ppl).toBeGreaterThan(1);
    // the curve's last running value is the whole run's log-PPL
    expect(r.curve[r.curve.length - 1].position).toBe(r.tokens);
    expect(r.curve[r.curve.length - 1].logPpl).toBeCloseTo(r.logPpl, 10);
  });

  for (const [name, sink, window] of [
    ['dense', 0, 1024],
    ['sink', 2, 16],
    ['window', 0, 16],
  ] as const) {
    it(`${name}: token by token and in chunks of 7 give the same per-token NLL`, async () => {
      const one = await streamPerplexity(model, spec(name, sink, window), stream, { keepNll: true, chunk: 1 });
      const chunked = await streamPerplexity(model, spec(name, sink, window), stream, { keepNll: true, chunk: 7 });
      expect(chunked.tokens).toBe(one.tokens);
      expect(chunked.exact).toBe(true);
      let worst = 0;
      for (let i = 0; i < one.tokens; i++) worst = Math.max(worst, Math.abs(one.nll![i] - chunked.nll![i]));
      expect(worst).toBeLessThan(1e-4);
      expect(Math.abs(one.ppl - chunked.ppl) / one.ppl).toBeLessThan(1e-5);
    });
  }

  it('sink differs from dense once it evicts (the policy really bounds the cache)', async () => {
    const dense = await streamPerplexity(model, spec('dense', 0, 1024), stream, { keepNll: true });
    const sink = await streamPerplexity(model, spec('sink', 2, 16), stream, { keepNll: true });
    for (let i = 0; i < 17; i++) expect(sink.nll![i]).toBeCloseTo(dense.nll![i], 4);
    expect(Math.abs(sink.ppl - dense.ppl)).toBeGreaterThan(1e-3);
  });

  it('recompute token by token scores each token from a fresh prefill of its last L tokens', async () => {
    const L = 12;
    const r = await streamPerplexity(model, spec('recompute', 0, L), stream, { keepNll: true });
    expect(r.exact).toBe(true);
    const V = model.vocabSize;
    for (const t of [0, 5, 11, 12, 30, stream.length - 2]) {
      const ctx = stream.slice(Math.max(0, t + 1 - L), t + 1);
      const { logits } = await model.forward(ctx, ctx.map((_, i) => i), []);
      const expected = referenceNll(logits.subarray((ctx.length - 1) * V, ctx.length * V), stream[t + 1]);
      expect(r.nll![t]).toBeCloseTo(expected, 4);
    }
    const chunked = await streamPerplexity(model, spec('recompute', 0, L), stream, { chunk: 4 });
    expect(chunked.exact).toBe(false);
    expect(chunked.tokens).toBe(r.tokens);
  });

  it('an aborted run returns what it measured, marked incomplete', async () => {
    const controller = new AbortController();
    const r = await streamPerplexity(model, spec('dense', 0, 1024), stream, {
      signal: controller.signal,
      onProgress: (done) => {
        if (done >= 20) controller.abort();
      },
    });
    expect(r.complete).toBe(false);
    expect(r.tokens).toBe(20);
    expect(Number.isFinite(r.ppl)).toBe(true);
    expect(r.curve[r.curve.length - 1].position).toBe(20);
  });

  it('percentile interpolates like numpy', () => {
    expect(percentile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBeCloseTo(9.1, 10);
    expect(percentile([7], 0.9)).toBe(7);
  });
});
