import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../engine/model-config.js';
import { UnsupportedModelError } from '../engine/errors.js';
import { rotateKeys } from './rope-rotation.js';

const base = { model_type: 'llama', vocab_size: 10, hidden_size: 32, num_attention_heads: 2, num_hidden_layers: 1 };

/** A key of all ones rotated to position p from scratch, for either pairing style. */
function keyAt(p: number, spec: ReturnType<typeof parseModelConfig>['rope']): Float32Array {
  const k = new Float32Array(spec.headDim).map((_, i) => 1 + i / 10);
  rotateKeys(k, 1, spec.headDim, 0, 1, p, spec);
  return k;
}

describe('RoPE re-rotation', () => {
  for (const [name, extra] of [
    ['rotate_half', {}],
    ['interleaved', { rope_style: 'interleaved' }],
    ['partial rotary 0.25', { partial_rotary_factor: 0.25 }],
    ['llama3 scaling', { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }],
  ] as const) {
    it(`rotations compose: key(p) turned by −k equals key(p − k) (${name})`, () => {
      const rope = parseModelConfig({ ...base, ...extra }).rope;
      const k = keyAt(1000, rope);
      rotateKeys(k, 1, rope.headDim, 0, 1, -937, rope);
      const expected = keyAt(63, rope);
      for (let i = 0; i < k.length; i++) expect(Math.abs(k[i] - expected[i])).toBeLessThan(1e-4);
      if (rope.rotaryDim < rope.headDim) expect(k[rope.headDim - 1]).toBeCloseTo(1 + (rope.headDim - 1) / 10, 6);
    });
  }

  it('refuses models whose positions cannot be shifted, each with one clear sentence', () => {
    expect(() => parseModelConfig({ ...base, rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(UnsupportedModelError);
    expect(() => parseModelConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/depends on the sequence length/);
    expect(() => parseModelConfig({ ...base, model_type: 'gpt2' })).toThrow(/absolute or ALiBi/);
    expect(() => parseModelConfig({ ...base, model_type: 't5' })).toThrow(/Unsupported architecture "t5"/);
  });
});
