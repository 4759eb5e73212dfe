import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type PolicyName, type PolicySpec } from '../main/policy/policy.js';
import { Model } from '../main/engine/model.js';
import { streamLogits } from '../main/eval/policy-logits.js';
import { convertHfModel } from './convert-hf.js';
import { FIXTURES, fixtureAvailable, testModelDir } from './test-models.js';
import type { TinyModelOptions } from './tiny-model.js';
import type { GraphLayout } from './decoder-graph.js';

const spec = (name: PolicyName, window: number, sink = 4, evictChunk = 4): PolicySpec => ({ ...DEFAULT_POLICY, name, sink, window, evictChunk });
/** every policy, the bounded ones small enough that the 40-token stream evicts several times */
const POLICIES = [spec('dense', 1), spec('window', 12, 0), spec('sink', 12, 4), spec('recompute', 10)];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function opTypes(file: string): Set<string> {
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(file));
  return new Set((model.graph?.node ?? []).map((n) => n.opType ?? ''));
}

const GENERATED: [string, TinyModelOptions][] = [
  ['tiny model (RoPE inside GroupQueryAttention)', {}],
  ['GQA 4:1, head size 8, partial rotary, linear scaling, q/k/v bias (RotaryEmbedding op)', {
    heads: 8, kvHeads: 2, hiddenSize: 64, partialRotaryFactor: 0.5, ropeScaling: { type: 'linear', factor: 2 }, attentionBias: true, seed: 7,
  }],
  ['head size 32, partial rotary, bias (RoPE inside GroupQueryAttention)', { hiddenSize: 128, heads: 4, kvHeads: 2, partialRotaryFactor: 0.5, attentionBias: true, seed: 9 }],
];

type FusedLayout = Exclude<GraphLayout, 'reference'>;
/** [name, layout, reference folder, fused folder]: both fused layouts (GroupQueryAttention, appending) */
const PAIRS: [string, FusedLayout, () => string, () => string][] = (['fused', 'appending'] as const).flatMap((layout) => [
  ...GENERATED.map(([name, o]): [string, FusedLayout, () => string, () => string] => [name, layout, () => testModelDir(o), () => testModelDir({ ...o, graph: { layout } })]),
  ...(fixtureAvailable(FIXTURES.tinystories)
    ? [['tinystories-656k converted', layout, () => FIXTURES.tinystories, () => converted(FIXTURES.tinystories, layout)] as [string, FusedLayout, () => string, () => string]]
    : []),
]);

function converted(fixture: string, layout: FusedLayout): string {
  const out = join(mkdtempSync(join(tmpdir(), 'perpetua-fused-')), 'model');
  convertHfModel(join(fixture, 'hf'), out, { layout });
  return out;
}

const TEXT =
  'Once upon a time there was a little girl named Lily. She liked to walk to the river and watch the water. ' +
  'One day she saw a small bird on a branch. The bird was sad because it could not find its way home.';

describe.each(PAIRS)('fused graph vs the reference graph: %s, %s layout', (_name, layout, refDir, fusedDir) => {
  let ref: Model;
  let fused: Model;
  let tokens: number[];
  beforeAll(async () => {
    [ref, fused] = await Promise.all([Model.load(refDir()), Model.load(fusedDir())]);
    tokens = ref.tokenizer.encode(TEXT, true).slice(0, 40);
    expect(tokens.length).toBeGreaterThanOrEqual(30);
  });
  afterAll(() => Promise.all([ref.dispose(), fused.dispose()]));

  it('uses the fused operators; only the appending graph takes position_ids', () => {
    const ops = opTypes(fused.onnxPath);
    expect(ops).toContain('SkipSimplifiedLayerNormalization');
    expect(ops).toContain('SimplifiedLayerNormalization');
    for (const unfused of ['Expand', 'ReduceMean']) expect(ops).not.toContain(unfused);
    if (layout === 'fused') {
      expect(ops).toContain('GroupQueryAttention');
      for (const unfused of ['Transpose', 'Concat', 'Softmax']) expect(ops).not.toContain(unfused);
    } else {
      // attention over the caller's buffer: the past is read where it is (FusedMatMul transposes inside the kernel)
      for (const op of ['RotaryEmbedding', 'FusedMatMul', 'Softmax']) expect(ops).toContain(op);
      expect(ops).not.toContain('GroupQueryAttention');
      expect(fused.layout.appendsKv).toBe(true);
      expect(fused.layout.logitsToKeep).toBe('logits_to_keep');
    }
    expect(fused.takesPositions).toBe(layout === 'appending');
    expect(ref.takesPositions).toBe(true);
  });

  it('gives the reference logits within 1e-4 for every policy, evictions included, prefilled in chunks', async () => {
    for (const s of POLICIES) {
      const [a, b] = [await streamLogits(ref, s, tokens, 5), await streamLogits(fused, s, tokens, 5)];
      expect(b.length).toBe(tokens.length);
      let worst = 0;
      a.forEach((row, t) => (worst = Math.max(worst, maxAbsDiff(b[t], row))));
      expect(worst, s.name).toBeLessThan(1e-4);
      // the rows are far from flat, so a wrong graph cannot pass by accident
      expect(Math.max(...a[a.length - 1]) - Math.min(...a[a.length - 1])).toBeGreaterThan(1);
    }
  });

  it(layout === 'fused' ? 'refuses tokens that would not go at the cache length' : 'takes its positions: RoPE scores depend on distances only', async () => {
    if (layout === 'fused') {
      await expect(fused.forward([1, 2], [5, 6], [])).rejects.toThrow(/cache length 0/);
      return;
    }
    const ids = tokens.slice(0, 6);
    const at = (start: number) => ids.map((_, i) => start + i);
    const [base, shifted] = [await fused.forward(ids, at(0), []), await fused.forward(ids, at(37), [])];
    expect(maxAbsDiff(shifted.logits, base.logits)).toBeLessThan(1e-4);
    // the keys themselves are encoded where they were told (turned by 37 positions), so the positions were used
    const [k0, k37] = [base.present as { key: Float32Array }[], shifted.present as { key: Float32Array }[]];
    expect(maxAbsDiff(k0[0].key, k37[0].key)).toBeGreaterThan(1e-2);
  });
});
