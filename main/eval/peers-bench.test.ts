import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../engine/model-config.js';
import { perpetuaRunner } from './peer-runners.js';
import { measureReadBandwidth, runPeers } from './peers-bench.js';
import { matrixBytesPerToken } from '../cli/bench-peers-command.js';
import { syntheticIds } from './peer-prompt.js';
import { parameterCount, SHAPES } from '../../native-models/shapes.js';
import { testModelDir } from '../../native-models/test-models.js';

describe('peers bench', () => {
  it('counts the matrix bytes of one decode step: every parameter but the norms, the tied table once', () => {
    const o = SHAPES['smollm2-135m'].options;
    const full = parseModelConfig({
      model_type: 'llama',
      hidden_size: o.hiddenSize,
      intermediate_size: o.intermediateSize,
      num_hidden_layers: o.layers,
      num_attention_heads: o.heads,
      num_key_value_heads: o.kvHeads,
      vocab_size: o.vocabSize,
    });
    const norms = o.layers * 2 * o.hiddenSize + o.hiddenSize;
    expect(matrixBytesPerToken(full, 'fp32')).toBe(4 * (parameterCount(o) - norms));
    expect(matrixBytesPerToken(full, 'Q4_0') / matrixBytesPerToken(full, 'F16')).toBeCloseTo(18 / 64, 10);
  });

  it('runs engines round-robin and reports medians, CPU time and the greedy tokens, the same for the same weights', async () => {
    const ref = await perpetuaRunner(testModelDir(), 'fp32', '1');
    const fused = await perpetuaRunner(testModelDir({ graph: { layout: 'fused' } }), 'fp32', '1');
    const prompt = syntheticIds(24, 300, 1);
    const bandwidth = 1e10;
    const rounds: string[] = [];
    const results = await runPeers(
      [{ runner: ref, bytesPerToken: 1e6 }, { runner: fused, bytesPerToken: 1e6 }],
      prompt,
      { prompt: prompt.length, decode: 8, rounds: 2, warmup: 2 },
      bandwidth,
      (round, name) => rounds.push(`${round}:${name}`),
    );
    expect(rounds).toEqual(['0:Perpetua fp32', '0:Perpetua fp32', '1:Perpetua fp32', '1:Perpetua fp32']);
    for (const r of results) {
      expect(r.decode.samples).toBe(2 * (8 - 2));
      expect(r.decode.p99Ms).toBeGreaterThanOrEqual(r.decode.p50Ms);
      expect(r.decode.tokensPerSecond).toBeCloseTo(1000 / r.decode.p50Ms, 6);
      expect(r.decode.cpuMsPerToken).toBeGreaterThan(0);
      expect(r.prefill.samples).toBe(2);
      expect(r.tokens).toHaveLength(9);
      expect(r.load).toHaveLength(2);
      expect(r.ofBandwidthBound).toBeCloseTo(r.decode.tokensPerSecond / (bandwidth / 1e6), 6);
    }
    expect(results[1].tokens).toEqual(results[0].tokens); // reference and fused graphs: same weights, same text
    await Promise.all([ref.dispose(), fused.dispose()]);
  });

  it('measures a plausible memory read bandwidth', () => {
    const bw = measureReadBandwidth(2, 64 * 2 ** 20);
    expect(bw).toBeGreaterThan(1e8); // a busy shared machine reads far below its peak
    expect(bw).toBeLessThan(1e12);
  });
});
