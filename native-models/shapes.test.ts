import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model } from '../main/engine/model.js';
import { onnxWeightBytes, parameterCount, SHAPES, shapeModelDir } from './shapes.js';
import { generateTinyModel, writeModelFolder } from './tiny-model.js';

describe('real-architecture shapes', () => {
  it('have the published parameter counts of SmolLM2-135M and Qwen2.5-0.5B', () => {
    expect(parameterCount(SHAPES['smollm2-135m'].options)).toBe(134_515_008);
    expect(parameterCount(SHAPES['qwen2.5-0.5b'].options)).toBe(494_032_768);
    // Qwen2.5-0.5B's float32 ONNX weights do not fit protobuf's 2 GB: they must be external data
    expect(onnxWeightBytes(SHAPES['qwen2.5-0.5b'].options)).toBeGreaterThan(2 ** 31);
  });

  it('external data and a padded tokenizer load and compute the same logits as an inline model', async () => {
    const opts = { seed: 3, vocabSize: 1500, modelType: 'qwen2', attentionBias: true, heads: 4, kvHeads: 2 } as const;
    const root = mkdtempSync(join(tmpdir(), 'perpetua-shape-'));
    const inlineDir = join(root, 'inline');
    const externalDir = join(root, 'external');
    writeModelFolder(inlineDir, generateTinyModel({ ...opts, padVocab: true }));
    writeModelFolder(externalDir, generateTinyModel({ ...opts, padVocab: true, externalData: true }));
    const graphBytes = statSync(join(externalDir, 'onnx', 'model.onnx')).size;
    const dataBytes = statSync(join(externalDir, 'onnx', 'model.onnx_data')).size;
    expect(graphBytes).toBeLessThan(64 * 1024);
    expect(dataBytes).toBeGreaterThan(statSync(join(inlineDir, 'onnx', 'model.onnx')).size * 0.9);
    expect(existsSync(join(inlineDir, 'onnx', 'model.onnx_data'))).toBe(false);

    const a = await Model.load(inlineDir);
    const b = await Model.load(externalDir);
    expect(b.tokenizer.vocabSize).toBe(1500);
    expect(b.vocabSize).toBe(1500);
    expect(b.config.modelType).toBe('qwen2');
    const ids = b.tokenizer.encode('Once upon a time there was a bird.', true);
    const pos = ids.map((_, i) => i);
    const [la, lb] = [(await a.forward(ids, pos, [])).logits, (await b.forward(ids, pos, [])).logits];
    let worst = 0;
    for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i] - lb[i]));
    expect(worst).toBe(0);
    await a.dispose();
    await b.dispose();
  });

  // Builds the 135M-parameter model once (about 20 s, 1 GB of memory; cached in the temp folder after that).
  it('builds SmolLM2-135M with its exact config and the engine loads it', async () => {
    const dir = shapeModelDir('smollm2-135m');
    const model = await Model.load(dir);
    const c = model.config;
    expect([c.hiddenSize, c.intermediateSize, c.layers, c.heads, c.kvHeads, c.headDim, c.vocabSize, c.rope.theta]).toEqual([
      576, 1536, 30, 9, 3, 64, 49152, 100000,
    ]);
    expect(c.tieWordEmbeddings).toBe(true);
    const { logits } = await model.forward([1, 5, 9], [0, 1, 2], []);
    expect(logits.length).toBe(3 * 49152);
    await model.dispose();
  });
});
