import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Engine } from '../engine/engine.js';
import { KvBuffer } from '../engine/kv-buffer.js';
import { Model } from '../engine/model.js';
import { toHostKv, type LayerKv } from '../engine/layer-kv.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { restoreContents } from './cache-snapshot.js';
import { createPolicy } from './create-policy.js';
import ort from 'onnxruntime-node';
import { readOnnxContents } from '../engine/onnx-contents.js';

/** every layer's past as an empty buffer of `capacity` tokens */
function emptyPast(model: Model, capacity: number): Record<string, ort.Tensor> {
  const b = new KvBuffer({ layers: model.config.layers, kvHeads: model.config.kvHeads, headDim: model.config.headDim }, capacity, 'float32');
  return Object.fromEntries(
    Array.from({ length: model.config.layers }, (_, l) => [[`past_key_values.${l}.key`, b.tensor(l, 'key')], [`past_key_values.${l}.value`, b.tensor(l, 'value')]]).flat(),
  );
}

const SINK: PolicySpec = { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 24, evictChunk: 8 };
const WINDOW: PolicySpec = { ...DEFAULT_POLICY, name: 'window', sink: 0, window: 20, evictChunk: 6 };
const TEXT =
  'Once upon a time there was a little girl named Lily. She liked to walk to the river and watch the water. ' +
  'One day she saw a small bird on a branch. The bird was sad because it could not find its way home.';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** the cache's in-place buffer, read through the policy's own interface (a plan of no tokens) */
async function bufferOf(engine: Engine): Promise<KvBuffer> {
  const { past } = await engine.policy.plan([]);
  expect(past).toBeInstanceOf(KvBuffer);
  return past as KvBuffer;
}

const LAYOUTS = [
  ['fused', 'GroupQueryAttention writes into it in place'],
  ['appending', 'the graph reads it where it is and Perpetua appends the new tokens'],
] as const;

describe.each(LAYOUTS)('KV in one buffer (%s graph: %s)', (layout) => {
  let inPlace: Model;
  let copies: Model;
  let tokens: number[];
  beforeAll(async () => {
    const dir = testModelDir({ graph: { layout } });
    [inPlace, copies] = await Promise.all([Model.load(dir), Model.load(dir, { kvInPlace: false })]);
    tokens = inPlace.tokenizer.encode(TEXT, true).slice(0, 60);
    expect(tokens.length).toBe(60);
  });
  afterAll(() => Promise.all([inPlace.dispose(), copies.dispose()]));

  for (const spec of [SINK, WINDOW]) {
    it(`${spec.name}: the same logits as new arrays per step, token by token and in chunks, across evictions`, async () => {
      for (const chunk of [1, 5]) {
        const rows = async (model: Model) => {
          const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
          const out: Float32Array[] = [];
          const V = model.vocabSize;
          await engine.feed(tokens, { chunk, onLogits: (l, s) => s.forEach((_, i) => out.push(l.slice(i * V, (i + 1) * V))) });
          return { out, engine };
        };
        const [a, b] = [await rows(inPlace), await rows(copies)];
        expect(a.engine.policy.length).toBe(b.engine.policy.length);
        expect(a.engine.policy.length).toBeLessThan(tokens.length); // it evicted
        let worst = 0;
        a.out.forEach((row, i) => (worst = Math.max(worst, maxAbsDiff(row, b.out[i]))));
        expect(worst).toBeLessThan(1e-4);
        const [ka, kb] = [a.engine.policy.contents(), b.engine.policy.contents()];
        expect(ka.tokens).toEqual(kb.tokens);
        const [ha, hb] = [await toHostKv(ka.kv), await toHostKv(kb.kv)];
        for (let l = 0; l < ha.length; l++) {
          expect(maxAbsDiff(ha[l].key, hb[l].key)).toBeLessThan(1e-5);
          expect(maxAbsDiff(ha[l].value, hb[l].value)).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('decodes and evicts without new KV arrays once the buffer holds the whole cache', async () => {
    const engine = new Engine(inPlace, createPolicy(SINK, inPlace.config, inPlace.kvEditor));
    await engine.feed(tokens.slice(0, 28)); // the cache's capacity: 4 + 24
    const buffer = await bufferOf(engine);
    const [key, value] = [buffer.keys[0], buffer.values[0]];
    expect(buffer.capacity).toBe(28);
    for (const t of tokens.slice(28)) await engine.feed([t]); // 32 steps, 4 evictions of 8
    const after = await bufferOf(engine);
    expect(after).toBe(buffer);
    expect(after.keys[0]).toBe(key);
    expect(after.values[0]).toBe(value);
    expect(after.length).toBe(engine.policy.length);
    expect(engine.policy.kvBytes()).toBe(buffer.bytes);
  });

  it('restores a cache into a buffer and continues exactly as the cache it came from', async () => {
    const source = new Engine(inPlace, createPolicy(SINK, inPlace.config, inPlace.kvEditor));
    await source.feed(tokens.slice(0, 40));
    const c = source.policy.contents();
    const saved = { ...c, kv: (await toHostKv(c.kv)) as LayerKv[] };
    const restored = new Engine(inPlace, createPolicy(SINK, inPlace.config, inPlace.kvEditor));
    await restoreContents(restored, saved);
    expect(maxAbsDiff(restored.logits!, source.logits!)).toBeLessThan(1e-4);
    for (const t of tokens.slice(40)) {
      expect(maxAbsDiff(await restored.feed([t]), await source.feed([t]))).toBeLessThan(1e-4);
    }
    expect(restored.policy.contents().tokens).toEqual(source.policy.contents().tokens);
  });
});

describe('the appending graph', () => {
  let inPlace: Model;
  let copies: Model;
  let tokens: number[];
  beforeAll(async () => {
    const dir = testModelDir({ graph: { layout: 'appending' } });
    [inPlace, copies] = await Promise.all([Model.load(dir), Model.load(dir, { kvInPlace: false })]);
    tokens = inPlace.tokenizer.encode(TEXT, true).slice(0, 60);
  });
  afterAll(() => Promise.all([inPlace.dispose(), copies.dispose()]));

  it('returns only the new tokens\' KV, never the cache', async () => {
    expect(inPlace.layout.appendsKv).toBe(true);
    expect(inPlace.kvEditor?.createBuffer).toBeTypeOf('function');
    expect(inPlace.session.outputNames.filter((n) => n.startsWith('present.'))).toEqual([]);
    // read from the file before a session exists: a GPU session names on-device outputs only among these
    const outputs = readOnnxContents(inPlace.onnxPath).outputs.map((o) => o.name);
    expect(outputs).toEqual(inPlace.session.outputNames);
    expect(outputs).toContain('new_key_values.0.key');
    const out = await inPlace.session.run(
      { input_ids: new ort.Tensor('int64', BigInt64Array.of(1n, 2n), [1, 2]), attention_mask: new ort.Tensor('int64', new BigInt64Array(2).fill(1n), [1, 2]), position_ids: new ort.Tensor('int64', BigInt64Array.of(0n, 1n), [1, 2]), logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []), ...emptyPast(inPlace, 64) },
    );
    const { kvHeads, headDim } = inPlace.config;
    expect(out['new_key_values.0.key'].dims).toEqual([1, kvHeads, 2, headDim]);
    expect(out.logits.dims).toEqual([1, 1, inPlace.vocabSize]); // logits_to_keep = 1: the last row only
  });

  it('a dense cache appends into one buffer that grows by a quarter, in steps of 64 tokens', async () => {
    const engine = new Engine(inPlace, createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, inPlace.config, inPlace.kvEditor));
    await engine.feed(tokens, { chunk: 7 });
    const buffer = await bufferOf(engine);
    expect([buffer.length, buffer.capacity]).toEqual([60, 64]);
    await engine.feed(tokens.slice(0, 10));
    const grown = await bufferOf(engine);
    expect([grown.length, grown.capacity]).toEqual([70, 128]);
    await engine.feed(tokens);
    const again = await bufferOf(engine);
    expect([again.length, again.capacity]).toEqual([130, 192]); // 128 · 1.25 = 160, rounded up to 64s (doubling: 256)
    const reference = new Engine(copies, createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, copies.config));
    await reference.feed([...tokens, ...tokens.slice(0, 10), ...tokens]);
    expect(maxAbsDiff(engine.logits!, reference.logits!)).toBeLessThan(1e-4);
  });

  it('evicts without turning the kept keys (one offset for all), and turns them back before positions pass the limit', async () => {
    const dir = testModelDir({ maxPositions: 40, graph: { layout: 'appending' } });
    const [offset, turned] = await Promise.all([Model.load(dir), Model.load(dir, { kvInPlace: false })]);
    try {
      expect(offset.kvEditor?.positionLimit).toBe(40);
      const spec: PolicySpec = { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 12, evictChunk: 4 };
      const stream = [...tokens, ...tokens].slice(0, 100);
      const offsets: number[] = [];
      let highest = 0;
      const policy = createPolicy(spec, offset.config, offset.kvEditor);
      const plan = policy.plan.bind(policy);
      policy.plan = async (t) => {
        const p = await plan(t);
        offsets.push(p.positions[0] - policy.length); // how far past its cache index the next token goes
        highest = Math.max(highest, ...p.positions);
        return p;
      };
      const [a, b] = [new Engine(offset, policy), new Engine(turned, createPolicy(spec, turned.config))];
      let worst = 0;
      for (const [i, t] of stream.entries()) {
        worst = Math.max(worst, maxAbsDiff(await a.feed([t]), await b.feed([t])));
        if (i === 70) {
          // a snapshot in the middle has its keys at their cache index, like the turning cache's
          const [ka, kb] = [await toHostKv(a.policy.contents().kv), await toHostKv(b.policy.contents().kv)];
          for (let l = 0; l < ka.length; l++) expect(maxAbsDiff(ka[l].key, kb[l].key)).toBeLessThan(1e-5);
        }
      }
      expect(worst).toBeLessThan(1e-4);
      expect(highest).toBe(39);
      expect(Math.max(...offsets)).toBeGreaterThanOrEqual(20); // keys were encoded further instead of turned …
      expect(offsets.slice(1).some((o, i) => o < offsets[i])).toBe(true); // … and turned back at the limit
    } finally {
      await Promise.all([offset.dispose(), turned.dispose()]);
    }
  });
});

describe('GroupQueryAttention graphs', () => {
  let inPlace: Model;
  let copies: Model;
  beforeAll(async () => {
    const dir = testModelDir({ graph: { layout: 'fused' } });
    [inPlace, copies] = await Promise.all([Model.load(dir), Model.load(dir, { kvInPlace: false })]);
  });
  afterAll(() => Promise.all([inPlace.dispose(), copies.dispose()]));

  it('is offered by graphs that share past and present, not by graphs that concatenate them', async () => {
    expect(inPlace.kvEditor?.createBuffer).toBeTypeOf('function');
    expect(copies.kvEditor).toBeUndefined();
    // 4-bit weights (MatMulNBits) round one row differently than several: still the same computation per step
    const q4 = await Model.load(testModelDir({ graph: { layout: 'fused', dtype: 'q4_0' } }));
    expect(q4.kvEditor?.createBuffer).toBeTypeOf('function');
    await q4.dispose();
    const reference = await Model.load(testModelDir());
    expect(reference.kvEditor).toBeUndefined(); // position_ids and Concat: every run returns new arrays
    await reference.dispose();
  });

});
