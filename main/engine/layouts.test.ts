import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutModelDir, type LayoutVariant } from '../../native-models/layout-fixtures.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { restoreSnapshot, snapshotOf } from '../cache/cache-snapshot.js';
import { createPolicy } from '../cache/create-policy.js';
import { forkCache } from '../cache/fork-cache.js';
import { toHostKv } from './layer-kv.js';
import { decodeSnapshot, encodeSnapshot } from '../cache/snapshot-codec.js';
import { Engine } from './engine.js';
import { Model } from './model.js';

/** Every layout of the same seeded weights; the standard fp32 onnx/model.onnx is the reference. */
const VARIANTS: (LayoutVariant & { name: string })[] = [
  { name: 'fp16', file: 'onnx/model_fp16.onnx', float16: true },
  { name: 'int8', file: 'onnx/model_int8.onnx', positionsFromCacheLength: true },
  { name: 'q4', file: 'onnx/model_q4.onnx', logitsToKeep: 'num_logits_to_keep' },
  { name: 'merged', file: 'onnx/decoder_model_merged.onnx', merged: true, externalData: 'decoder_model_merged.onnx_data' },
  { name: 'uint8', file: 'onnx/model_uint8.onnx', externalData: 'model_uint8.onnx.data', logitsToKeep: 'logits_to_keep' },
  // Perpetua's fused graph: GroupQueryAttention with RoPE inside, no position_ids (the onnxruntime-genai layout)
  { name: 'bnb4', file: 'onnx/model_bnb4.onnx', graph: { layout: 'fused' } },
  {
    name: 'quantized',
    file: 'onnx/model_quantized.onnx',
    graph: { layout: 'fused' },
    float16: true,
    merged: true,
    logitsToKeep: 'num_logits_to_keep',
    externalData: 'model_quantized.onnx.data',
  },
  {
    name: 'q4f16',
    file: 'onnx/model_q4f16.onnx',
    float16: true,
    merged: true,
    positionsFromCacheLength: true,
    logitsToKeep: 'logits_to_keep',
    externalData: 'model_q4f16.onnx_data',
  },
];

const POLICIES: PolicySpec[] = [
  { ...DEFAULT_POLICY, name: 'dense' },
  { ...DEFAULT_POLICY, name: 'window', sink: 0, window: 14, evictChunk: 4 },
  { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 10, evictChunk: 3 },
  { ...DEFAULT_POLICY, name: 'recompute', window: 12 },
];

/** float16 KV and logits round to 11 significant bits; errors stay far below a logit's spread. */
const FP16_TOLERANCE = 2e-2;
/** onnxruntime's fused kernels sum in another order than the reference graph's plain operators */
const FUSED_TOLERANCE = 1e-4;

let dir: string;
let reference: Model;

beforeAll(async () => {
  dir = layoutModelDir(VARIANTS);
  reference = await Model.load(dir, { variant: 'fp32' });
});
afterAll(() => reference.dispose());

/** The logits of a prefill (every row, as evaluation asks) and of 16 single decode steps (the last row only). */
async function run(model: Model, spec: PolicySpec, tokens: number[]): Promise<{ rows: Float32Array[]; steps: Float32Array[]; engine: Engine }> {
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
  const rows: Float32Array[] = [];
  const V = model.vocabSize;
  await engine.feed(tokens.slice(0, 20), {
    chunk: 6,
    onLogits: (logits, fed) => fed.forEach((_, i) => rows.push(logits.slice(i * V, (i + 1) * V))),
  });
  const steps: Float32Array[] = [];
  for (const t of tokens.slice(20)) steps.push((await engine.feed([t])).slice());
  return { rows, steps, engine };
}

function worstDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((row, r) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[r][i])))));
  return worst;
}

const tokens = Array.from({ length: 36 }, (_, i) => 40 + ((i * 37) % 400));

describe.each(VARIANTS)('the $name layout ($file)', (v) => {
  it('loads with the layout its graph has and gives the fp32 reference logits for every policy, evictions included', async () => {
    const model = await Model.load(dir, { variant: v.name });
    expect(model.variant.file).toBe(v.file);
    const fused = v.graph?.layout === 'fused';
    expect(model.layout).toEqual({
      positionIds: !v.positionsFromCacheLength && !fused,
      cacheBranch: Boolean(v.merged),
      logitsToKeep: v.logitsToKeep ?? null,
      kvDtype: v.float16 ? 'float16' : 'float32',
      logitsDtype: v.float16 ? 'float16' : 'float32',
      appendsKv: false,
    });
    for (const spec of POLICIES) {
      const want = await run(reference, spec, tokens);
      const got = await run(model, spec, tokens);
      const tolerance = v.float16 ? FP16_TOLERANCE : fused ? FUSED_TOLERANCE : 1e-5;
      expect(worstDiff(got.rows, want.rows), `${spec.name} prefill`).toBeLessThan(tolerance);
      expect(worstDiff(got.steps, want.steps), `${spec.name} decode`).toBeLessThan(tolerance);
      if (spec.name !== 'dense') expect(got.engine.policy.totalTokensSeen).toBeGreaterThan(got.engine.policy.capacity);
    }
    await model.dispose();
  });
});

describe('graphs that declare logits_to_keep', () => {
  it('return one row per decode run and every row when evaluation asks for them', async () => {
    const model = await Model.load(dir, { variant: 'q4' });
    const first = await model.forward([5, 6, 7], [0, 1, 2], [], { allLogits: false });
    expect(first.logits.length).toBe(model.vocabSize);
    const all = await model.forward([5, 6, 7], [0, 1, 2], [], { allLogits: true });
    expect(all.logits.length).toBe(3 * model.vocabSize);
    expect(Array.from(first.logits)).toEqual(Array.from(all.logits.subarray(2 * model.vocabSize)));
    await model.dispose();
  });
});

describe('float16 KV', () => {
  it('is kept as float16, evicted by the ONNX edit graph like on the host, snapshotted as float16 and resumed exactly', async () => {
    const host = await Model.load(dir, { variant: 'fp16' });
    const device = await Model.load(dir, { variant: 'fp16', kvOnDevice: true });
    const spec = POLICIES[2];
    const a = await run(host, spec, tokens);
    const b = await run(device, spec, tokens);
    expect(worstDiff(b.steps, a.steps)).toBeLessThan(FP16_TOLERANCE / 4);
    const kv = await toHostKv(a.engine.policy.contents().kv);
    expect(kv[0].key).toBeInstanceOf(Uint16Array);

    const bytes = encodeSnapshot(await snapshotOf(a.engine.policy, host.fingerprint, host.geometry, host.kvDtype));
    const snap = decodeSnapshot(bytes, { modelFingerprint: host.fingerprint });
    expect(snap.dtype).toBe('float16');
    expect(bytes.byteLength).toBeLessThan(2 * 2 * host.geometry.layers * host.geometry.kvHeads * host.geometry.headDim * 14 + 2048);
    const resumed = new Engine(host, createPolicy(spec, host.config, host.kvEditor));
    await restoreSnapshot(resumed, snap);
    expect(Array.from(resumed.logits!)).toEqual(Array.from(a.engine.logits!));

    // a fork of a float16 cache stays float16 and matches a fresh prefill at the new positions (layer 0)
    const dense = await run(host, POLICIES[0], tokens);
    const forked = forkCache({ ...dense.engine.policy.contents(), kv: await toHostKv(dense.engine.policy.contents().kv) }, spec, host.geometry, host.config.rope)!;
    expect(forked.kv[0].key).toBeInstanceOf(Uint16Array);
    const fresh = await host.forward(forked.tokens, forked.cachePositions, []);
    const f32 = (x: Uint16Array) => new Float32Array(Array.from(x, (bits) => half(bits)));
    expect(worstDiff([f32(forked.kv[0].key as Uint16Array)], [f32(fresh.present[0].key as Uint16Array)])).toBeLessThan(FP16_TOLERANCE / 4);
    await Promise.all([host.dispose(), device.dispose()]);
  });
});

/** IEEE half-precision bits to a number, written out independently of the engine's conversion. */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

describe('export variants side by side', () => {
  it('are all listed, and the engine picks q4 on the CPU unless told otherwise', async () => {
    const model = await Model.load(dir);
    expect(model.variant.name).toBe('q4');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).model_type).toBe('llama');
    await model.dispose();
    await expect(Model.load(dir, { variant: 'q2' })).rejects.toThrow(/has no variant "q2"; it has merged, fp32, bnb4, fp16, int8, q4, q4f16, quantized, uint8\./);
  });

  it('find an older export that has only onnx/decoder_model_merged.onnx', async () => {
    const merged = layoutModelDir([{ file: 'onnx/decoder_model_merged.onnx', merged: true }]);
    rmSync(join(merged, 'onnx', 'model.onnx'));
    const model = await Model.load(merged);
    expect(model.variant).toEqual({ name: 'merged', dtype: 'fp32', file: 'onnx/decoder_model_merged.onnx', dataFiles: [], genaiDir: null });
    expect(model.layout.cacheBranch).toBe(true);
    await model.dispose();
  });
});
