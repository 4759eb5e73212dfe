import { describe, expect, it } from 'vitest';
import { CATALOG, catalogFit } from './catalog.js';
import { listVariants } from './variant-files.js';

const GiB = 1024 ** 3;

describe('the model catalog', () => {
  it('lists the curated instruct models, each with repo, revision, variants, size, context, licence and template', () => {
    expect(CATALOG.map((m) => m.repo)).toEqual([
      'HuggingFaceTB/SmolLM2-135M-Instruct',
      'HuggingFaceTB/SmolLM2-360M-Instruct',
      'HuggingFaceTB/SmolLM2-1.7B-Instruct',
      'onnx-community/Qwen2.5-0.5B-Instruct',
      'onnx-community/Qwen2.5-1.5B-Instruct',
      'onnx-community/Llama-3.2-1B-Instruct',
      'onnx-community/Llama-3.2-3B-Instruct',
      'onnx-community/Qwen3-0.6B-ONNX',
      'microsoft/Phi-3.5-mini-instruct-onnx',
    ]);
    expect(new Set(CATALOG.map((m) => m.id)).size).toBe(CATALOG.length);
    for (const m of CATALOG) {
      expect(m.verified.length).toBeGreaterThan(20);
      expect(m.verifyOnline.length).toBeGreaterThan(10);
    }
  });

  it('names variants the download rule finds in each layout', () => {
    // the published file names of one repo per layout (from the Hub's listings)
    const transformersJs = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4f16.onnx_data'];
    const genai = ['cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/genai_config.json', 'cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx', 'cuda/cuda-int4-awq-block-128/genai_config.json', 'cuda/cuda-int4-awq-block-128/phi-3.5-mini-instruct-cuda-int4-awq-block-128.onnx'];
    const names = (files: string[]) => listVariants(files).map((v) => v.name);
    for (const m of CATALOG) {
      const found = names(m.layout === 'onnxruntime-genai' ? genai : transformersJs);
      expect(found).toContain(m.variants.cpu);
      expect(found).toContain(m.variants.gpu);
    }
  });

  it('says how much a model needs and whether it fits this machine', () => {
    const smol = CATALOG.find((m) => m.id === 'smollm2-135m-instruct')!;
    const cpu = catalogFit(smol, 'cpu', 16 * GiB);
    expect(cpu.variant).toBe('q4');
    expect(cpu.downloadBytes).toBe(200_000_000);
    // 200 MB × 1.1 + 2 × 30 layers × 3 KV heads × 64 × 4 bytes × 1024 tokens + 400 MiB
    expect(cpu.ramBytes).toBe(Math.round(220_000_000 + 2 * 30 * 3 * 64 * 4 * 1024 + 400 * 1024 ** 2));
    expect(cpu.fit).toBe('fits');
    expect(catalogFit(smol, 'webgpu', 16 * GiB).variant).toBe('q4f16');
    const llama3b = CATALOG.find((m) => m.id === 'llama-3.2-3b-instruct')!;
    expect(catalogFit(llama3b, 'cpu', 8 * GiB).fit).toBe('tight');
    expect(catalogFit(llama3b, 'cpu', 4 * GiB).fit).toBe('too_large');
  });
});
