import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutModelDir } from '../../native-models/layout-fixtures.js';
import { CoreService } from './core-service.js';

describe('export variants through the API', () => {
  it('lists a folder’s variants, imports the one named and switches a model to another (or back to the automatic choice)', async () => {
    const dir = layoutModelDir([{ file: 'onnx/model_fp16.onnx', float16: true }, { file: 'onnx/model_q4.onnx' }]);
    const core = new CoreService({ dbFile: join(mkdtempSync(join(tmpdir(), 'perpetua-variants-')), 'perpetua.db') });
    const model = await core.modelsImport({ dir, variant: 'fp16' });
    expect(model.variant).toBe('fp16');
    expect(model.variants!.map((v) => [v.name, v.kvDtype])).toEqual([
      ['fp32', 'float32'],
      ['fp16', 'float16'],
      ['q4', 'float32'],
    ]);
    expect(model.variants!.every((v) => v.sizeBytes > 0)).toBe(true);
    expect((await core.modelsSetVariant({ modelId: model.id, variant: 'q4' })).variant).toBe('q4');
    expect((await core.modelsList())[0].variant).toBe('q4');
    expect((await core.modelsSetVariant({ modelId: model.id, variant: null })).variant).toBeUndefined();
    await expect(core.modelsSetVariant({ modelId: model.id, variant: 'q2' })).rejects.toThrow(/has no variant "q2"; it has fp32, fp16, q4\./);
    expect((await core.modelsList())[0].variant).toBeUndefined();
    await expect(core.modelsImport({ dir, variant: 'bnb4' })).rejects.toThrow(/has no variant "bnb4"/);
    await core.close();
  });
});
