/**
 * Deleting a chat takes one click and can be undone from the toast until it goes; then it is deleted in the core.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { SHOTS, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest();
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const policy = { name: 'sink', sink: 4, window: 252, pinSystem: false } as const;
  await core.api.sessionsCreate({ name: 'Keep me', modelId: model.id, policy });
  await core.api.sessionsCreate({ name: 'Delete me', modelId: model.id, policy });
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Delete me")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

const item = (name: string) => `[data-testid=session-item]:has-text("${name}")`;
const names = async () => (await core.api.sessionsList()).map((s) => s.name);

describe('delete with undo', () => {
  it('one click deletes, Undo brings the chat back and opens it', async () => {
    await page.hover(item('Delete me'));
    await page.click('button[aria-label="Delete Delete me"]');
    await page.waitForSelector(item('Delete me'), { state: 'detached' });
    await page.waitForSelector('[data-testid=session-title]:has-text("Keep me")');
    await page.waitForSelector('[data-testid=toast-info] [data-testid=toast-action]:has-text("Undo")');
    // taken while the toast shows (shot() waits for toasts to go)
    if (SHOTS) await page.screenshot({ path: 'docs/screenshots/delete-undo.png' });
    await page.click('[data-testid=toast-info] [data-testid=toast-action]');
    await page.waitForSelector(item('Delete me'));
    await page.waitForSelector('[data-testid=session-title]:has-text("Delete me")');
    expect(await names()).toContain('Delete me');
  });

  it('without Undo, the chat is deleted in the core once the toast is gone', async () => {
    await page.hover(item('Delete me'));
    await page.click('button[aria-label="Delete Delete me"]');
    await page.waitForSelector(item('Delete me'), { state: 'detached' });
    await page.waitForSelector('[data-testid=toast-action]', { state: 'detached', timeout: 60_000 });
    await expect.poll(names, { timeout: 30_000, interval: 100 }).toEqual(['Keep me']);
  });
});
