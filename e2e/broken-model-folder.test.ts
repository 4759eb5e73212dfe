/**
 * A folder in the models folder that is not a usable model is not passed over in silence at start: the app says which
 * folder and why, and lists the models that are fine.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { testModelDir } from '../native-models/test-models.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-broken-'));
let core: CoreService;
let h: Harness;

beforeAll(async () => {
  const modelsDir = join(dir, 'models');
  mkdirSync(join(modelsDir, 'half-copied'), { recursive: true });
  writeFileSync(join(modelsDir, 'half-copied', 'config.json'), '{ "model_type": ');
  cpSync(testModelDir(), join(modelsDir, 'tiny'), { recursive: true });
  core = new CoreService({ dbFile: join(dir, 'perpetua.db'), modelsDir });
  h = await startHarness(core);
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a broken folder in the models folder', () => {
  it('is named in an error at start; the good model is listed', async () => {
    const toast = await h.page.waitForSelector('[data-testid=toast-error]:has-text("half-copied")');
    expect(await toast.textContent()).toMatch(/half-copied in the models folder is not a model Perpetua can use/);
    if (process.env.PERPETUA_SCREENSHOTS === '1') await h.page.screenshot({ path: 'docs/screenshots/broken-model-folder.png' });
    expect((await core.modelsList()).map((m) => m.name)).toEqual(['tiny']);
  });
});
