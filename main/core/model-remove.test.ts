import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';

describe('models.remove', () => {
  it('refuses while a chat uses the model; removes the row, and the folder only when it lies in the models folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-remove-'));
    const modelsDir = join(dir, 'models');
    mkdirSync(modelsDir);
    cpSync(testModelDir(), join(modelsDir, 'tiny'), { recursive: true });
    const core = new CoreService({ dbFile: join(dir, 'p.db'), modelsDir });
    const [owned] = await core.modelsList();
    expect(owned!.path).toBe(join(modelsDir, 'tiny'));
    const chat = await core.sessionsCreate({ name: 'Uses it', modelId: owned!.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
    await expect(core.modelsRemove({ modelId: owned!.id })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/^1 chat uses this model/) });
    await core.sessionsDelete({ id: chat.id });
    expect(await core.modelsRemove({ modelId: owned!.id })).toEqual({ deletedFolder: true });
    expect(existsSync(join(modelsDir, 'tiny'))).toBe(false);
    expect(await core.modelsList()).toEqual([]); // not imported again

    const outside = await core.modelsImport({ dir: testModelDir() });
    expect(await core.modelsRemove({ modelId: outside.id })).toEqual({ deletedFolder: false });
    expect(existsSync(testModelDir())).toBe(true);
    expect(await core.modelsList()).toEqual([]);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
