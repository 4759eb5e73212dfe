// The GPU suite, part 4: quantized and float16 weights on WebGPU. Its kernels multiply float16 weights in float16
// (the CPU widens them to float32) and round 4-bit blocks in another order, so logits differ by more than float32
// noise; what must hold is the model's quality: perplexity over 2,048 tokens within 1 % of the CPU's.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertHfModel } from '../../native-models/convert-hf.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { Model } from '../engine/model.js';
import { readTextStream } from '../eval/text-stream.js';
import { streamPerplexity } from '../eval/stream-ppl.js';
import { requireWebGpuAdapter } from './webgpu-adapter.js';

const BUILT_IN_HF = join(process.cwd(), 'native-models', 'perpetua-gutenberg', 'hf');
// a PG-19 test book where the machine has the corpora, else this project's own long English text
const BOOK = join(process.cwd(), '..', 'shared', 'corpora', 'pg19-test-10321-dragons-blood.txt');
const TEXT = existsSync(BOOK) ? BOOK : join(process.cwd(), 'docs', 'results.md');
const SINK: PolicySpec = { ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 252, evictChunk: 16 };

/** Stated tolerances on the largest logit difference (the built-in model's logits span about ±20). */
const LOGIT_TOLERANCE = { fp16: 0.15, q4: 0.6 } as const;

beforeAll(requireWebGpuAdapter);

describe.each(['fp16', 'q4'] as const)('%s weights on webgpu', (dtype) => {
  let cpu: Model;
  let gpu: Model;
  beforeAll(async () => {
    const dir = join(mkdtempSync(join(tmpdir(), `perpetua-webgpu-${dtype}-`)), 'model');
    convertHfModel(BUILT_IN_HF, dir, { layout: 'reference', dtype });
    cpu = await Model.load(dir);
    gpu = await Model.load(dir, { executionProvider: 'webgpu' });
    expect(gpu.provider).toBe('webgpu');
  });
  afterAll(() => Promise.all([cpu.dispose(), gpu.dispose()]));

  it(`give logits within ${LOGIT_TOLERANCE[dtype]} of the CPU's`, async () => {
    const ids = cpu.tokenizer.encode('Once upon a time there was a little house by the sea, and in it lived').slice(0, 24);
    const want = await cpu.forward(ids, ids.map((_, i) => i), []);
    const got = await gpu.forward(ids, ids.map((_, i) => i), []);
    let worst = 0;
    want.logits.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - got.logits[i]))));
    expect(worst).toBeLessThan(LOGIT_TOLERANCE[dtype]);
  });

  it('keep the perplexity of 2,048 tokens under a sink cache within 1 % of the CPU', async () => {
    const stream = readTextStream(TEXT, cpu.tokenizer, 2049, cpu.streamPrefix).tokens;
    expect(stream.length).toBe(2049);
    const onCpu = await streamPerplexity(cpu, SINK, stream, { chunk: 16 });
    const onGpu = await streamPerplexity(gpu, SINK, stream, { chunk: 16 });
    expect(Math.abs(onGpu.ppl / onCpu.ppl - 1)).toBeLessThan(0.01);
  });
});
