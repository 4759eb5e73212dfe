/**
 * Removing a model in the model manager: refused with the reason while a chat uses it, removed (two clicks) once
 * none does.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;
let chatId = '';

beforeAll(async () => {
  core = await startCoreUnderTest();
  const model = await core.api.modelsImport({ dir: core.modelDir });
  chatId = (await core.api.sessionsCreate({ name: 'On it', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } })).id;
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("On it")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('remove a model', () => {
  it('says which chats hold it back, then removes it once none uses it', async () => {
    await page.click('[data-testid=open-models]');
    await page.click('[data-testid=model-item] [data-testid=model-remove]');
    await page.waitForSelector('[data-testid=model-item] [data-testid=model-remove]:has-text("Remove for good")');
    await shot(page, 'model-remove');
    await page.click('[data-testid=model-item] [data-testid=model-remove]');
    const refusal = await page.waitForSelector('[data-testid=toast-error]');
    expect(await refusal.textContent()).toContain('1 chat uses this model');
    expect(await page.$$eval('[data-testid=model-item]', (els) => els.length)).toBe(1);
    await core.api.sessionsDelete({ id: chatId });
    await page.click('[data-testid=model-item] [data-testid=model-remove]');
    await page.click('[data-testid=model-item] [data-testid=model-remove]');
    await page.waitForSelector('[data-testid=model-item]', { state: 'detached' });
    expect(await core.api.modelsList()).toEqual([]);
  });
});
