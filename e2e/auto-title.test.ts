/**
 * A chat that kept the name the new-chat dialog proposed ("Chat 1") is named after its first message; a name the
 * user typed stays.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 4 });
  await core.api.modelsImport({ dir: core.modelDir });
  h = await startHarness(core.api);
  page = h.page;
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

async function newChat(name?: string): Promise<void> {
  await page.click('[data-testid=new-session]');
  await page.waitForSelector('[data-testid=new-session-name]');
  if (name) await page.fill('[data-testid=new-session-name]', name);
  await page.click('[data-testid=new-session-create]');
  await page.waitForSelector('[data-testid=new-session-dialog][open]', { state: 'detached' });
}

async function send(text: string): Promise<void> {
  await page.fill('[data-testid=composer-input]', text);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`[data-testid=message][data-role=user]:has-text("${text}")`);
}

describe('automatic chat titles', () => {
  it('names a chat that kept the proposed name after its first message', async () => {
    await newChat();
    await page.waitForSelector('[data-testid=session-title]:has-text("Chat 1")');
    await send('The lighthouse keeper and the storm');
    await page.waitForSelector('[data-testid=session-item]:has-text("The lighthouse keeper and the storm")');
    await page.waitForSelector('[data-testid=session-title]:has-text("The lighthouse keeper and the storm")');
    await shot(page, 'auto-title');
    expect((await core.api.sessionsList()).map((s) => s.name)).toContain('The lighthouse keeper and the storm');
  });

  it('keeps a name the user typed', async () => {
    await newChat('My own name');
    await send('Something else entirely');
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming])');
    expect((await core.api.sessionsList()).map((s) => s.name)).toContain('My own name');
    expect(await page.textContent('[data-testid=session-title]')).toContain('My own name');
  });
});
