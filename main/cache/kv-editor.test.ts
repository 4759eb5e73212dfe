import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { Engine } from '../engine/engine.js';
import { parseModelConfig } from '../engine/model-config.js';
import { Model } from '../engine/model.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { restoreSnapshot, snapshotOf } from './cache-snapshot.js';
import { createPolicy } from './create-policy.js';
import { GraphKvEditor } from '../engine/graph-kv-editor.js';
import { HostKvEditor } from './kv-editor.js';
import { toHostKv, type CacheKv } from '../engine/layer-kv.js';

const base = { model_type: 'llama', vocab_size: 10, hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3 };

function randomKv(layers: number, heads: number, length: number, dim: number): CacheKv[] {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Array.from({ length: layers }, () => ({
    key: Float32Array.from({ length: heads * length * dim }, rand),
    value: Float32Array.from({ length: heads * length * dim }, rand),
  }));
}

describe('KV edit graphs', () => {
  for (const [name, extra] of [
    ['rotate_half', {}],
    ['interleaved', { rope_style: 'interleaved' }],
    ['partial rotary 0.5', { partial_rotary_factor: 0.5 }],
    ['llama3 scaling', { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }],
  ] as const) {
    it(`the ONNX eviction equals the JavaScript one (${name})`, async () => {
      const config = parseModelConfig({ ...base, ...extra });
      const g = { layers: 3, kvHeads: 2, headDim: 16 };
      const kv = randomKv(3, 2, 50, 16);
      const host = await new HostKvEditor(g, config.rope).evict(kv, 4, 13);
      const graph = await GraphKvEditor.create(g, config.rope, 'cpu', false);
      const out = await graph.evict(kv, 4, 13);
      expect((out[0].key as ort.Tensor).dims).toEqual([1, 2, 37, 16]);
      const a = await toHostKv(host);
      const b = await toHostKv(out);
      for (let l = 0; l < 3; l++) {
        let worst = 0;
        a[l].key.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[l].key[i]))));
        expect(worst).toBeLessThan(1e-5);
        expect(Array.from(b[l].value)).toEqual(Array.from(a[l].value));
      }
      await graph.dispose();
    });
  }
});

const MODELS = [testModelDir(), ...(fixtureAvailable(FIXTURES.tinystories) ? [FIXTURES.tinystories] : [])];

describe.each(MODELS)('KV kept as onnxruntime tensors and edited by graphs (%s)', (dir) => {
  it('releases its KV edit graph when the model is disposed', async () => {
    const device = await Model.load(dir, { kvOnDevice: true });
    const engine = new Engine(device, createPolicy({ ...DEFAULT_POLICY, name: 'window', window: 32 }, device.config, device.kvEditor));
    await engine.feed(device.tokenizer.encode('Once upon a time there was a girl.', true));
    const kv = engine.policy.contents().kv;
    await expect(device.kvEditor!.evict(kv, 0, 1)).resolves.toHaveLength(kv.length);
    await device.dispose();
    await expect(device.kvEditor!.evict(kv, 0, 1)).rejects.toThrow();
  });

  it('gives the same logits as host arrays for every policy, evictions included, and snapshots once per turn', async () => {
    const host = await Model.load(dir);
    const device = await Model.load(dir, { kvOnDevice: true });
    expect(device.kvOnDevice).toBe(true);
    const tokens = host.tokenizer.encode('Once upon a time there was a little girl who lived in a village near the forest. '.repeat(3), true);
    for (const [name, sink, window] of [['dense', 0, 1], ['window', 0, 24], ['sink', 4, 20], ['recompute', 0, 16]] as const) {
      const spec: PolicySpec = { ...DEFAULT_POLICY, name, sink, window, evictChunk: 8 };
      const a = new Engine(host, createPolicy(spec, host.config, host.kvEditor));
      const b = new Engine(device, createPolicy(spec, device.config, device.kvEditor));
      for (const t of tokens) {
        const la = await a.feed([t]);
        const lb = await b.feed([t]);
        let worst = 0;
        la.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - lb[i]))));
        expect(worst).toBeLessThan(1e-4);
      }
      if (name !== 'recompute') expect(b.policy.contents().kv[0].key).toBeInstanceOf(ort.Tensor);
      // the snapshot downloads the device cache; restoring it on the host gives the same next-token logits
      const snap = await snapshotOf(b.policy, device.fingerprint, device.geometry);
      const c = new Engine(host, createPolicy(spec, host.config, host.kvEditor));
      await restoreSnapshot(c, snap);
      let worst = 0;
      c.logits!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.logits![i]))));
      expect(worst).toBeLessThan(1e-4);
    }
    await Promise.all([host.dispose(), device.dispose()]);
  });
});
