import { describe, expect, it } from 'vitest';
import { Model } from '../main/engine/model.js';
import { generateTinyModel } from './tiny-model.js';
import { referenceForward } from './reference-forward.js';
import { testModelDir } from './test-models.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const VARIANTS = {
  default: {},
  'GQA 4:1, partial rotary, linear scaling, q/k/v bias': {
    heads: 8,
    kvHeads: 2,
    hiddenSize: 64,
    partialRotaryFactor: 0.5,
    ropeScaling: { type: 'linear', factor: 2 },
    attentionBias: true,
    seed: 7,
  },
};

describe('generated tiny Llama', () => {
  it('is deterministic: the same seed writes the same bytes', () => {
    const a = generateTinyModel({ seed: 5 });
    const b = generateTinyModel({ seed: 5 });
    expect(Buffer.compare(Buffer.from(a.onnx), Buffer.from(b.onnx))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.onnx), Buffer.from(generateTinyModel({ seed: 6 }).onnx))).not.toBe(0);
  });

  for (const [name, opts] of Object.entries(VARIANTS)) {
    it(`ONNX logits equal an independent TypeScript forward pass within 1e-4 (${name})`, async () => {
      const gen = generateTinyModel(opts);
      const model = await Model.load(testModelDir(opts));
      const tokens = model.tokenizer.encode('Once upon a time there was a little bird.', true);
      const positions = tokens.map((_, i) => i + 37); // shifted positions exercise RoPE beyond 0…n
      const { logits } = await model.forward(tokens, positions, []);
      const ref = referenceForward(gen.config, gen.weights, tokens, positions);
      const V = model.vocabSize;
      let worst = 0;
      ref.forEach((row, t) => (worst = Math.max(worst, maxAbsDiff(logits.subarray(t * V, (t + 1) * V), row))));
      expect(worst).toBeLessThan(1e-4);
      // the logits are not trivially flat: a wrong graph could not pass by accident
      expect(Math.max(...ref[0]) - Math.min(...ref[0])).toBeGreaterThan(1);
      await model.dispose();
    });
  }

  it('keeps keys after RoPE in the standard layout, with past ++ new as present', async () => {
    const model = await Model.load(testModelDir());
    const ids = model.tokenizer.encode('the girl', true);
    const full = await model.forward(ids, ids.map((_, i) => i), []);
    const first = await model.forward(ids.slice(0, 2), [0, 1], []);
    const rest = await model.forward(ids.slice(2), ids.slice(2).map((_, i) => i + 2), first.present);
    expect(maxAbsDiff(rest.present[1].key, full.present[1].key)).toBeLessThan(1e-5);
    expect(model.session.inputNames).toContain('past_key_values.1.value');
    expect(model.session.outputNames).toContain('present.0.key');
    await model.dispose();
  });
});
