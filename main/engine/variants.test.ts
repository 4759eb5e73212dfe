import { describe, expect, it } from 'vitest';
import { listVariants, pickVariant, variantFiles } from './variants.js';

/** The onnx/ listing of an onnx-community repository (Qwen2.5-0.5B-Instruct style), plus config files. */
const REPO = [
  'config.json',
  'tokenizer.json',
  'onnx/model.onnx',
  'onnx/model.onnx_data',
  'onnx/model_bnb4.onnx',
  'onnx/model_fp16.onnx',
  'onnx/model_fp16.onnx_data',
  'onnx/model_int8.onnx',
  'onnx/model_q4.onnx',
  'onnx/model_q4f16.onnx',
  'onnx/model_quantized.onnx',
  'onnx/model_uint8.onnx',
];

describe('export variants', () => {
  it('are named by the dtype their file names say, with their external data files', () => {
    const variants = listVariants(REPO);
    expect(variants.map((v) => v.name)).toEqual(['fp32', 'bnb4', 'fp16', 'int8', 'q4', 'q4f16', 'quantized', 'uint8']);
    expect(variantFiles(variants.find((v) => v.name === 'fp16')!)).toEqual(['onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data']);
    expect(variants.find((v) => v.name === 'q4')!.dataFiles).toEqual([]);
  });

  it('keep transformers.js chunked data files in order and genai .onnx.data files', () => {
    const chunked = ['onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data_2', 'onnx/model_fp16.onnx_data', 'onnx/model_fp16.onnx_data_1', 'onnx/model_fp16.onnx_data_x'];
    expect(listVariants(chunked)[0].dataFiles).toEqual(['onnx/model_fp16.onnx_data', 'onnx/model_fp16.onnx_data_1', 'onnx/model_fp16.onnx_data_2']);
    expect(listVariants(['model.onnx', 'model.onnx.data', 'genai_config.json'])).toEqual([
      { name: 'genai', dtype: 'genai', file: 'model.onnx', dataFiles: ['model.onnx.data'], genaiDir: '' },
    ]);
  });

  it('are picked per provider: CPU q4 → int8 (→ other 8-bit) → fp32, GPUs q4f16 → fp16 → q4', () => {
    const all = listVariants(REPO);
    const without = (...names: string[]) => all.filter((v) => !names.includes(v.name));
    expect(pickVariant(all, 'cpu')!.name).toBe('q4');
    expect(pickVariant(without('q4'), 'cpu')!.name).toBe('int8');
    expect(pickVariant(without('q4', 'int8', 'uint8', 'quantized'), 'cpu')!.name).toBe('fp32');
    for (const gpu of ['webgpu', 'cuda', 'dml'] as const) {
      expect(pickVariant(all, gpu)!.name).toBe('q4f16');
      expect(pickVariant(without('q4f16'), gpu)!.name).toBe('fp16');
      expect(pickVariant(without('q4f16', 'fp16'), gpu)!.name).toBe('q4');
    }
  });

  it('never give the CPU a float16 variant where a float32 or 4-bit one exists (its x86 float16 matrices are slower)', () => {
    const names = ['fp32', 'fp16', 'q4', 'q4f16', 'bnb4'];
    // every folder of two or more of these that holds fp16 and something the CPU runs better
    for (let mask = 1; mask < 1 << names.length; mask++) {
      const pick = names.filter((_, i) => mask & (1 << i));
      if (!pick.includes('fp16') || pick.length < 2) continue;
      const files = pick.map((n) => (n === 'fp32' ? 'onnx/model.onnx' : `onnx/model_${n}.onnx`));
      const chosen = pickVariant(listVariants(files), 'cpu')!.name;
      expect(chosen, pick.join(',')).not.toBe('fp16');
      if (pick.includes('fp32') || pick.includes('q4')) expect(['fp32', 'q4'], pick.join(',')).toContain(chosen);
    }
  });

  it('can be named explicitly, by variant name or file name, and an unknown one is not guessed', () => {
    const all = listVariants(REPO);
    expect(pickVariant(all, 'cpu', 'fp16')!.file).toBe('onnx/model_fp16.onnx');
    expect(pickVariant(all, 'cuda', 'model_int8.onnx')!.name).toBe('int8');
    expect(pickVariant(all, 'cpu', 'onnx/model_uint8.onnx')!.name).toBe('uint8');
    expect(pickVariant(all, 'cpu', 'q2')).toBeNull();
  });

  it('prefer onnx/model*.onnx over an older merged decoder of the same dtype', () => {
    const v = listVariants(['onnx/decoder_model_merged.onnx', 'onnx/model.onnx', 'onnx/decoder_model_merged_quantized.onnx']);
    expect(v.map((x) => [x.name, x.dtype, x.file])).toEqual([
      ['merged', 'fp32', 'onnx/decoder_model_merged.onnx'],
      ['merged_quantized', 'quantized', 'onnx/decoder_model_merged_quantized.onnx'],
      ['fp32', 'fp32', 'onnx/model.onnx'],
    ]);
    expect(pickVariant(v, 'cpu')!.name).toBe('merged_quantized');
    expect(pickVariant(v.filter((x) => x.dtype === 'fp32'), 'cuda')!.name).toBe('fp32');
  });
});
