import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { checkImportable, ModelImportError } from './import-check.js';

const problem = (path: string) => {
  try {
    checkImportable(path);
    return null;
  } catch (e) {
    return e instanceof ModelImportError ? [e.code, e.message] : ['other', String(e)];
  }
};

describe('what can be imported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-import-'));

  it('names the ONNX alternative of a GGUF file', () => {
    const file = join(dir, 'Qwen2.5-0.5B-Instruct-Q4_K_M.gguf');
    writeFileSync(file, 'GGUF');
    expect(problem(file)).toEqual([
      'gguf_unsupported',
      'Qwen2.5-0.5B-Instruct-Q4_K_M.gguf is a GGUF (llama.cpp) file, which Perpetua cannot run; download the ONNX export instead: Qwen2.5 0.5B Instruct (onnx-community/Qwen2.5-0.5B-Instruct) from the catalog.',
    ]);
    const folder = join(dir, 'gguf-folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'mystery-7b.Q8_0.gguf'), 'GGUF');
    expect(problem(folder)?.[1]).toMatch(/^mystery-7b\.Q8_0\.gguf is a GGUF .* \(an onnx-community\/… repo of the same model\) from the catalog or with `perpetua models download`\.$/);
  });

  it('says to convert a safetensors checkpoint', () => {
    const folder = join(dir, 'SmolLM2-135M-Instruct');
    mkdirSync(folder);
    writeFileSync(join(folder, 'config.json'), '{}');
    writeFileSync(join(folder, 'model.safetensors'), '');
    expect(problem(folder)).toEqual([
      'needs_conversion',
      'SmolLM2-135M-Instruct is a Hugging Face checkpoint (safetensors), not an ONNX export: convert it with "Convert to ONNX" here (or `perpetua models convert`), then it imports.',
    ]);
  });

  it('lets an ONNX model folder through', () => {
    expect(problem(testModelDir())).toBeNull();
  });
});
