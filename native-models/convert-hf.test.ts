import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model } from '../main/engine/model.js';
import { convertHfModel } from './convert-hf.js';
import { FIXTURES, fixtureAvailable } from './test-models.js';

describe('safetensors → ONNX converter', () => {
  for (const [name, dir, layout] of [
    ['tinystories-656k', FIXTURES.tinystories, 'reference'],
    ['stories260k', FIXTURES.stories260k, 'reference'],
    ['tinystories-656k', FIXTURES.tinystories, 'fused'],
  ] as const) {
    it.runIf(fixtureAvailable(dir))(`${name}: converted hf/ weights (${layout} graph) give the reference ONNX logits within 1e-4`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'perpetua-convert-'));
      convertHfModel(join(dir, 'hf'), out, { layout });
      const ours = await Model.load(out);
      const reference = await Model.load(dir);
      const ids = reference.tokenizer.encode('Once upon a time, a little dog named Max found a red ball.', true);
      // the reference layout takes any positions; the fused one places tokens at the cache length
      const positions = ids.map((_, i) => i + (layout === 'reference' ? 100 : 0));
      const a = await ours.forward(ids, positions, []);
      const b = await reference.forward(ids, positions, []);
      let worst = 0;
      for (let i = 0; i < a.logits.length; i++) worst = Math.max(worst, Math.abs(a.logits[i] - b.logits[i]));
      expect(worst).toBeLessThan(1e-4);
      let kvWorst = 0;
      for (let i = 0; i < a.present[0].key.length; i++) kvWorst = Math.max(kvWorst, Math.abs(a.present[0].key[i] - b.present[0].key[i]));
      expect(kvWorst).toBeLessThan(1e-4);
      await Promise.all([ours.dispose(), reference.dispose()]);
    });
  }
});
