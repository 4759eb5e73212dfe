/**
 * Duplicating a chat from the chat list, in Chromium against the real core: the copy opens with the transcript shown,
 * under "Name (copy)", and answers on its own while the original stays as it was.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;
let original = '';

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 8 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  original = (await core.api.sessionsCreate({ name: 'Lighthouse', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } })).id;
  await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: original, text: 'The keeper lit the lamp.' }, signal)).closed;
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Lighthouse")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('duplicate a chat', () => {
  it('opens a copy with the transcript, which answers on its own', async () => {
    await page.hover('[data-testid=session-item]:has-text("Lighthouse")');
    await page.click('[data-testid=session-duplicate]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Lighthouse (copy)")');
    await page.waitForSelector('[data-testid=message][data-role=user]:has-text("The keeper lit the lamp.")');
    expect(await page.$$eval('[data-testid=message]', (els) => els.length)).toBe(2);
    await shot(page, 'duplicate-chat');
    await page.fill('[data-testid=composer-input]', 'A ship came by.');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 2, undefined, { timeout: 90_000 });
    expect((await core.api.sessionsOpen({ id: original })).messages).toHaveLength(2);
  });
});
