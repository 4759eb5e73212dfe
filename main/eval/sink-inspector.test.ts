import { describe, expect, it } from 'vitest';
import { Model } from '../engine/model.js';
import { generateTinyModel } from '../../native-models/tiny-model.js';
import { referenceForward } from '../../native-models/reference-forward.js';
import { testModelDir } from '../../native-models/test-models.js';
import { inspectSinks, inspectTokens } from './sink-inspector.js';

const TEXT = 'Once upon a time there was a little bird. It sang every morning by the river, and the fish listened.';

describe('sink inspector', () => {
  for (const [name, opts] of [
    ['reference graph', {}],
    ['GQA 4:1 graph with its weights in external data', { heads: 8, kvHeads: 2, hiddenSize: 64, seed: 7, externalData: true }],
  ] as const) {
    it(`reads each layer's and head's attention to the first tokens, as an independent forward pass computes it (${name})`, async () => {
      const model = await Model.load(testModelDir(opts));
      const tokens = model.tokenizer.encode(TEXT, true);
      const report = await inspectSinks(model, tokens, 4);
      const gen = generateTinyModel(opts);
      const H = gen.config.num_attention_heads as number;
      const expected = Array.from({ length: model.config.layers }, () => new Array<number>(H).fill(0));
      referenceForward(gen.config, gen.weights, tokens, undefined, (l, h, q, probs) => {
        if (q >= 4) expected[l][h] += (probs[0] + probs[1] + probs[2] + probs[3]) / (tokens.length - 4);
      });
      expect(report).toMatchObject({ layers: model.config.layers, heads: H, firstTokens: 4, tokens: tokens.length });
      for (let l = 0; l < report.layers; l++) for (let h = 0; h < H; h++) expect(report.share[l][h]).toBeCloseTo(expected[l][h], 4);
      await model.dispose();
    });
  }

  it('says why a fused-attention graph cannot show its attention', async () => {
    const model = await Model.load(testModelDir({ graph: { layout: 'fused' } }));
    const tokens = model.tokenizer.encode(TEXT, true);
    const err = await inspectSinks(model, tokens).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('attention_unavailable');
    expect((err as Error).message).toMatch(/fused GroupQueryAttention operator, which never holds the attention probabilities/);
    await model.dispose();
  });

  it('inspects the kept head and the newest tokens of a long cache', () => {
    const held = Array.from({ length: 1000 }, (_, i) => i);
    const picked = inspectTokens(held, 4, 256);
    expect(picked).toHaveLength(256);
    expect(picked.slice(0, 5)).toEqual([0, 1, 2, 3, 748]);
    expect(picked[255]).toBe(999);
    expect(inspectTokens(held.slice(0, 100), 4, 256)).toHaveLength(100);
  });
});
