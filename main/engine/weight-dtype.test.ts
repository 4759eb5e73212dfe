import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { folderVariants } from './model-files.js';

describe('the weight format of a plain onnx/model.onnx', () => {
  it.each([
    ['fp32', 'fp32'],
    ['fp16', 'fp16'],
    ['q4', 'q4'],
    ['q4_0', 'q4'],
  ] as const)('is read from the graph: %s weights list as %s', (dtype, listed) => {
    const dir = testModelDir({ graph: { layout: 'appending', dtype } });
    const [variant] = folderVariants(dir);
    expect(variant.file).toBe(join('onnx', 'model.onnx'));
    expect(variant.name).toBe('fp32'); // what --variant takes stays the exporters' name
    expect(variant.dtype).toBe(listed);
  });
});
