import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Model } from './model.js';

describe('a run that onnxruntime refuses', () => {
  it('is a sentence with a stable code naming the model, without terminal escape codes', async () => {
    const model = await Model.load(testModelDir());
    // a token id past the embedding table: the graph's Gather fails inside onnxruntime
    const failed = await model.forward([model.vocabSize + 5], [0], []).then(
      () => null,
      (err: unknown) => err,
    );
    expect(failed).toMatchObject({ name: 'ModelRunError', code: 'model_unusable' });
    expect((failed as Error).message).toMatch(new RegExp(`^${model.name} failed while computing in onnxruntime \\(.+\\); the model's graph does not run here\\.$`));
    expect((failed as Error).message).not.toMatch(/\x1b/);
    await model.dispose();
  });
});
