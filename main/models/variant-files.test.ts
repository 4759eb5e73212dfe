import { describe, expect, it } from 'vitest';
import { DownloadError } from './download-error.js';
import { chooseVariant, listVariants } from './variant-files.js';

// onnx-community/Qwen2.5-1.5B-Instruct as the Hub lists it
const QWEN = [
  '.gitattributes', 'README.md', 'added_tokens.json', 'config.json', 'generation_config.json', 'merges.txt', 'special_tokens_map.json',
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_bnb4.onnx',
  'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data', 'onnx/model_int8.onnx', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx',
  'onnx/model_quantized.onnx', 'onnx/model_uint8.onnx',
];
// microsoft/Phi-3.5-mini-instruct-onnx (two of its folders)
const PHI = [
  'README.md', 'LICENSE', 'config.json',
  'cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/genai_config.json',
  'cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx',
  'cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx.data',
  'cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4/tokenizer.json',
  'cuda/cuda-int4-awq-block-128/genai_config.json',
  'cuda/cuda-int4-awq-block-128/phi-3.5-mini-instruct-cuda-int4-awq-block-128.onnx',
];

describe('variant files', () => {
  it('lists the variants of a transformers.js export with their external data and the root config files', () => {
    const byName = Object.fromEntries(listVariants(QWEN).map((v) => [v.name, v.files.map((f) => f.remote)]));
    expect(Object.keys(byName).sort()).toEqual(['bnb4', 'fp16', 'fp32', 'int8', 'q4', 'q4f16', 'quantized', 'uint8']);
    const meta = ['added_tokens.json', 'config.json', 'generation_config.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json'];
    expect(byName.fp16).toEqual([...meta, 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data']);
    expect(byName.fp32).toEqual([...meta, 'onnx/model.onnx', 'onnx/model.onnx_data']);
    expect(byName.q4).toEqual([...meta, 'onnx/model_q4.onnx']);
  });

  it('takes a genai folder whole, to the top of the model folder', () => {
    const v = chooseVariant('microsoft/Phi-3.5-mini-instruct-onnx', PHI, undefined, 'cpu');
    expect(v.name).toBe('cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4');
    expect(v.files.map((f) => f.local)).toEqual([
      'genai_config.json',
      'phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx',
      'phi-3.5-mini-instruct-cpu-int4-awq-block-128-acc-level-4.onnx.data',
      'tokenizer.json',
    ]);
    expect(chooseVariant('m', PHI, undefined, 'cuda').name).toBe('cuda/cuda-int4-awq-block-128');
  });

  it('picks by provider: CPU q4 → int8 → fp32, GPUs q4f16 → fp16 → q4; older merged decoders count too', () => {
    expect(chooseVariant('q', QWEN, undefined, 'cpu').name).toBe('q4');
    expect(chooseVariant('q', QWEN, undefined, 'webgpu').name).toBe('q4f16');
    const noQ4 = QWEN.filter((f) => !f.includes('q4'));
    expect(chooseVariant('q', noQ4, undefined, 'cpu').name).toBe('int8');
    expect(chooseVariant('q', noQ4, undefined, 'cuda').name).toBe('fp16');
    const merged = ['config.json', 'onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged_quantized.onnx'];
    expect(listVariants(merged).map((v) => v.name)).toEqual(['merged', 'merged_quantized']);
    expect(chooseVariant('x', merged, undefined, 'cpu').name).toBe('merged_quantized');
  });

  it('says what to do with a repo that has no ONNX export', () => {
    const err = (files: string[]) => {
      try {
        chooseVariant('org/model', files, undefined);
      } catch (e) {
        return [(e as DownloadError).code, (e as DownloadError).message];
      }
      return null;
    };
    expect(err(['config.json', 'model.safetensors'])?.[1]).toMatch(/only safetensors weights: .*convert it in the model manager/);
    expect(err(['qwen2.5-0.5b-instruct-q4_k_m.gguf'])).toEqual([
      'variant_not_found',
      "org/model holds GGUF files, which Perpetua cannot run; pick the model's ONNX export (onnx-community/…) instead.",
    ]);
  });
});
