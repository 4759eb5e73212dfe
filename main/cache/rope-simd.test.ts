import { describe, expect, it } from 'vitest';
import { KvBuffer } from '../engine/kv-buffer.js';
import { parseModelConfig } from '../engine/model-config.js';
import { turnKeyRows } from './kv-editor.js';
import { rotateKeys } from './rope-rotation.js';
import { simdRotate } from './rope-simd.js';

const base = { model_type: 'llama', vocab_size: 10, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2 };

describe('turning keys inside a KV buffer', () => {
  it('has the WebAssembly SIMD kernel on this runtime', () => {
    const buffer = new KvBuffer({ layers: 1, kvHeads: 1, headDim: 16 }, 4, 'float32');
    expect(buffer.memory).not.toBeNull();
    expect(simdRotate(buffer.memory!)).toBeTypeOf('function');
  });

  for (const [name, extra] of [
    ['rotate_half, SIMD', { hidden_size: 128 }],
    ['partial rotary 0.5, SIMD', { hidden_size: 128, partial_rotary_factor: 0.5 }],
    ['interleaved, in JavaScript', { hidden_size: 128, rope_style: 'interleaved' }],
    ['a rotary half of 6 pairs (not a multiple of 4), in JavaScript', { hidden_size: 24, num_attention_heads: 2 }],
  ] as const) {
    it(`turns rows [from, to) of every head like rotateKeys and leaves the rest (${name})`, () => {
      const config = parseModelConfig({ ...base, ...extra });
      const g = { layers: 2, kvHeads: 2, headDim: config.headDim };
      const [capacity, from, to, delta] = [40, 4, 31, -9];
      const buffer = new KvBuffer(g, capacity, 'float32');
      buffer.setLength(37);
      [...buffer.keys, ...buffer.values].forEach((a, n) => a.forEach((_, i) => (a[i] = Math.sin(n * 1000 + i))));
      const expected = [...buffer.keys, ...buffer.values].map((a) => a.slice());
      for (const k of expected.slice(0, g.layers)) rotateKeys(k, g.kvHeads, g.headDim, from, to, delta, config.rope);

      turnKeyRows(buffer, from, to, delta, config.rope);
      let worst = 0;
      [...buffer.keys, ...buffer.values].forEach((a, n) => a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - expected[n][i])))));
      expect(worst).toBeLessThan(1e-5);
      expect(expected[0].some((x, i) => x !== buffer.keys[0][i] || x !== Math.sin(i))).toBe(true); // something turned
    });
  }
});
