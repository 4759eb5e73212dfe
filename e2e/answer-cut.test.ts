/**
 * An answer that stopped at its length limit says so under it (how many tokens, and where to raise the limit), in
 * Chromium against the real core; the label stays after a reload, and Continue writes more of it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, waitReady, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 12 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  await core.api.sessionsCreate({ name: 'Short answers', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Short answers")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('an answer cut at the length limit', () => {
  it('is labelled with its length and where to raise it, also after a reload', async () => {
    await page.fill('[data-testid=composer-input]', 'Once upon a time there was a lighthouse');
    await page.keyboard.press('Enter');
    const cut = '[data-testid=message][data-role=assistant]:not([data-state=streaming]) [data-testid=message-cut]';
    await page.waitForSelector(cut, { timeout: 90_000 });
    expect(await page.textContent(cut)).toContain('Cut off at the length limit (12 tokens): raise Max tokens in the chat settings for longer answers.');
    await shot(page, 'answer-cut');
    await page.reload();
    await waitReady(page);
    await page.waitForSelector(cut);
  });

  it('Continue writes more of it, as the next answer', async () => {
    await page.click('[data-testid=continue-answer]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 2, undefined, { timeout: 90_000 });
    const session = (await core.api.sessionsList())[0]!;
    const { messages } = await core.api.sessionsOpen({ id: session.id });
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'assistant']);
    expect(messages[2]!.parentId).toBe(messages[1]!.id);
    // the Continue offer moved to the newest answer
    expect(await page.$$eval('[data-testid=continue-answer]', (els) => els.length)).toBe(1);
  });
});
