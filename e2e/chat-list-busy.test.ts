/**
 * The chat list marks a chat that writes an answer while another chat is shown, and the mark goes when the answer
 * ends. Against the real core, with tokens delivered at a real model's pace.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ paceTokensMs: 40, maxAnswerTokens: 150 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const policy = { name: 'sink', sink: 4, window: 252, pinSystem: false } as const;
  await core.api.sessionsCreate({ name: 'Background', modelId: model.id, policy });
  await core.api.sessionsCreate({ name: 'Foreground', modelId: model.id, policy });
  h = await startHarness(core.api);
  page = h.page;
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

const item = (name: string) => `[data-testid=session-item]:has-text("${name}")`;

describe('chat list', () => {
  it('marks a chat answering in the background until its answer ends', async () => {
    await page.click(item('Background'));
    await page.waitForSelector('[data-testid=session-title]:has-text("Background")');
    await page.fill('[data-testid=composer-input]', 'Once upon a time');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant][data-state=streaming]');
    await page.click(item('Foreground'));
    await page.waitForSelector('[data-testid=session-title]:has-text("Foreground")');
    // the mark is on the chat that answers, not on the one shown; it is there until the answer ends
    expect(await page.$(`${item('Foreground')} [data-testid=session-busy]`)).toBeNull();
    const stillAnswering = await page.$(`${item('Background')} [data-testid=session-busy]`);
    const sessions = await core.api.sessionsList();
    const background = sessions.find((s) => s.name === 'Background')!;
    const last = (await core.api.sessionsOpen({ id: background.id })).messages.at(-1)!;
    // on a very slow machine the answer may have ended already: then there is nothing to mark
    if (last.state === 'streaming') expect(stillAnswering).not.toBeNull();
    await shot(page, 'chat-list-busy');
    await page.waitForSelector(`${item('Background')} [data-testid=session-busy]`, { state: 'detached', timeout: 60_000 });
  });
});
