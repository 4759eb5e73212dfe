// The GPU suite, part 1: every layout and policy on the WebGPU provider against the CPU, on whatever adapter the
// machine has (Mesa's lavapipe where there is no GPU). Vitest runs each file in its own process, so an abort in
// onnxruntime fails this file instead of killing the runner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutModelDir, type LayoutVariant } from '../../native-models/layout-fixtures.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { createPolicy } from '../cache/create-policy.js';
import { restoreSnapshot, snapshotOf } from '../cache/cache-snapshot.js';
import { decodeSnapshot, encodeSnapshot } from '../cache/snapshot-codec.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { WEBGPU_ATTENTION_RUN } from '../engine/attention-run-limit.js';
import { measureDeviceTraffic } from '../eval/device-traffic.js';
import { requireWebGpuAdapter } from './webgpu-adapter.js';

const LAYOUTS: (LayoutVariant & { name: string; tolerance: number })[] = [
  { name: 'fp32', file: 'onnx/model.onnx', tolerance: 1e-4 }, // the reference layout, written by layoutModelDir
  { name: 'int8', file: 'onnx/model_int8.onnx', positionsFromCacheLength: true, tolerance: 1e-4 },
  { name: 'merged', file: 'onnx/decoder_model_merged.onnx', merged: true, externalData: 'decoder_model_merged.onnx_data', tolerance: 1e-4 },
  { name: 'q4', file: 'onnx/model_q4.onnx', logitsToKeep: 'num_logits_to_keep', tolerance: 1e-4 },
  // Perpetua's fused graph: GroupQueryAttention with rotary inside (the onnxruntime-genai layout)
  { name: 'bnb4', file: 'onnx/model_bnb4.onnx', graph: { layout: 'fused' }, tolerance: 1e-4 },
  // float16 KV and logits: WebGPU multiplies in float16 where the CPU widens to float32
  { name: 'fp16', file: 'onnx/model_fp16.onnx', float16: true, tolerance: 2e-2 },
];

const POLICIES: PolicySpec[] = [
  { ...DEFAULT_POLICY, name: 'dense' },
  { ...DEFAULT_POLICY, name: 'window', sink: 0, window: 14, evictChunk: 4 },
  { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 10, evictChunk: 3 },
  { ...DEFAULT_POLICY, name: 'recompute', window: 12 },
];

const tokens = Array.from({ length: 36 }, (_, i) => 40 + ((i * 37) % 400));
let dir: string;

beforeAll(async () => {
  await requireWebGpuAdapter();
  dir = layoutModelDir(LAYOUTS.filter((v) => v.name !== 'fp32'));
});

/** Every prefill row (chunks of 6) and 16 decode steps. */
async function run(model: Model, spec: PolicySpec): Promise<{ rows: Float32Array[]; engine: Engine }> {
  const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
  const rows: Float32Array[] = [];
  const V = model.vocabSize;
  await engine.feed(tokens.slice(0, 20), { chunk: 6, onLogits: (l, fed) => fed.forEach((_, i) => rows.push(l.slice(i * V, (i + 1) * V))) });
  for (const t of tokens.slice(20)) rows.push((await engine.feed([t])).slice());
  return { rows, engine };
}

function worstDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((row, r) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[r][i])))));
  return worst;
}

describe.each(LAYOUTS)('on webgpu, the $name layout', (v) => {
  let cpu: Model;
  let gpu: Model;
  beforeAll(async () => {
    cpu = await Model.load(dir, { variant: v.name });
    gpu = await Model.load(dir, { variant: v.name, executionProvider: 'webgpu' });
  });
  afterAll(() => Promise.all([cpu.dispose(), gpu.dispose()]));

  it('runs on the GPU with its KV there: no attention on the CPU, no per-step KV upload or download, evictions on the GPU', async () => {
    expect(gpu.provider).toBe('webgpu');
    expect(gpu.adapter).not.toBeNull();
    expect(gpu.kvOnDevice).toBe(true);
    const t = await measureDeviceTraffic(gpu);
    expect(t.decode.placement.WebGpuExecutionProvider).toBeGreaterThan(0);
    for (const op of ['MatMul', 'FusedMatMul', 'MatMulNBits', 'Softmax', 'GroupQueryAttention', 'MultiHeadAttention']) expect(t.decode.cpuOps).not.toContain(op);
    // one step sends ids, mask and positions up and brings one row of logits down; the KV would be kilobytes
    const kvBytes = 2 * gpu.geometry.layers * gpu.geometry.kvHeads * gpu.geometry.headDim * t.pastTokens * 2;
    expect(t.decode.upBytes).toBeLessThan(512);
    expect(t.decode.downBytes).toBeLessThanOrEqual(gpu.vocabSize * 4);
    expect(t.decode.downBytes).toBeLessThan(kvBytes);
    expect(t.eviction).not.toBeNull();
    expect(t.eviction!.cpuOps.filter((op) => !['Add'].includes(op))).toEqual([]);
    expect(t.eviction!.downBytes).toBe(0);
    expect(t.eviction!.upBytes).toBeLessThan(512);
  });

  it.each(POLICIES.map((p) => [p.name, p] as const))('gives the CPU logits under %s, evictions included', async (_, spec) => {
    const want = await run(cpu, spec);
    const got = await run(gpu, spec);
    expect(worstDiff(got.rows, want.rows)).toBeLessThan(v.tolerance);
    if (spec.name !== 'dense') expect(got.engine.policy.totalTokensSeen).toBeGreaterThan(got.engine.policy.capacity);
    got.engine.policy.dispose();
  });

  it('resumes a device-KV snapshot token-exact on webgpu and on the CPU, and a CPU snapshot on webgpu', async () => {
    const spec = POLICIES[2];
    const greedy = async (e: Engine, n: number) => {
      const out: number[] = [];
      let logits = e.logits!;
      for (let i = 0; i < n; i++) {
        const id = logits.indexOf(Math.max(...logits));
        out.push(id);
        logits = await e.feed([id]);
      }
      return out;
    };
    const source = (await run(gpu, spec)).engine;
    const bytes = encodeSnapshot(await snapshotOf(source.policy, gpu.fingerprint, gpu.geometry, gpu.kvDtype, gpu.kvEditor));
    const uninterrupted = await greedy(source, 12);
    for (const target of [gpu, cpu]) {
      const resumed = new Engine(target, createPolicy(spec, target.config, target.kvEditor));
      await restoreSnapshot(resumed, decodeSnapshot(bytes, { modelFingerprint: target.fingerprint }));
      expect(await greedy(resumed, 12), `resumed on ${target.provider}`).toEqual(uninterrupted);
    }
    const onCpu = (await run(cpu, spec)).engine;
    const cpuBytes = encodeSnapshot(await snapshotOf(onCpu.policy, cpu.fingerprint, cpu.geometry, cpu.kvDtype, cpu.kvEditor));
    const cpuContinues = await greedy(onCpu, 12);
    const toGpu = new Engine(gpu, createPolicy(spec, gpu.config, gpu.kvEditor));
    await restoreSnapshot(toGpu, decodeSnapshot(cpuBytes, { modelFingerprint: gpu.fingerprint }));
    expect(await greedy(toGpu, 12)).toEqual(cpuContinues);
  });
});

describe('runs of 32 or more new tokens on webgpu', () => {
  it('are split where the graph uses onnxruntime attention ops, and give the CPU logits', async () => {
    const cpu = await Model.load(dir, { variant: 'bnb4' });
    const gpu = await Model.load(dir, { variant: 'bnb4', executionProvider: 'webgpu' });
    const plain = await Model.load(dir, { variant: 'fp32', executionProvider: 'webgpu' });
    expect(gpu.maxRunTokens).toBe(WEBGPU_ATTENTION_RUN);
    expect(cpu.maxRunTokens).toBe(Infinity);
    expect(plain.maxRunTokens).toBe(Infinity); // plain MatMul attention has no such limit
    const ids = Array.from({ length: 70 }, (_, i) => 30 + ((i * 11) % 300));
    const positions = ids.map((_, i) => i);
    const want = await cpu.forward(ids, positions, []);
    const got = await gpu.forward(ids, positions, []);
    let worst = 0;
    want.logits.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - got.logits[i]))));
    expect(got.logits.length).toBe(want.logits.length);
    expect(worst).toBeLessThan(1e-4);
    // the KV it returns is the whole run's, on the device, and reads back equal to the CPU's
    const host = await gpu.kvEditor!.toHost!(got.present);
    expect(host[0].key.length).toBe(want.present[0].key.length);
    let kvWorst = 0;
    (want.present[0].key as Float32Array).forEach((x, i) => (kvWorst = Math.max(kvWorst, Math.abs(x - (host[0].key as Float32Array)[i]))));
    expect(kvWorst).toBeLessThan(1e-4);
    await Promise.all([cpu.dispose(), gpu.dispose(), plain.dispose()]);
  });
});
