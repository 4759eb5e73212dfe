/**
 * Deleting one message from its action buttons, in Chromium against the real core with the built-in model: only that
 * message goes (the chat goes on around it), the toast's Undo puts it back where it was.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { SHOTS, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;
let chat = '';
const SECRET = 'The code is Zanzibar-7731.';

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 8 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  chat = (await core.api.sessionsCreate({ name: 'Notes', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } })).id;
  for (const text of ['The keeper lit the lamp.', SECRET, 'A ship came by.']) {
    await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: chat, text }, signal)).closed;
  }
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=message][data-role=user]:has-text("A ship came by.")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

const secret = `[data-testid=message][data-role=user]:has-text("${SECRET}")`;
const stored = async () => (await core.api.sessionsOpen({ id: chat })).messages.map((m) => m.text);

describe('delete one message', () => {
  it('takes only that message out of the chat; Undo puts it back where it was', async () => {
    const before = await stored();
    expect(before).toHaveLength(6);
    await page.hover(secret);
    await page.click(`${secret} [data-testid=delete-message]`);
    await page.waitForTimeout(3000); console.log(await page.$$eval('[data-testid^=toast-]', (els) => els.map((e) => e.textContent)));
    await page.waitForSelector(secret, { state: 'detached' });
    await page.waitForSelector('[data-testid=toast-info] [data-testid=toast-action]:has-text("Undo")');
    expect(await page.$$eval('[data-testid=message]', (els) => els.length)).toBe(5);
    expect(await stored()).toEqual(before.filter((t) => t !== SECRET));
    // taken while the toast shows (shot() waits for toasts to go)
    if (SHOTS) await page.screenshot({ path: 'docs/screenshots/delete-message.png' });

    await page.click('[data-testid=toast-info] [data-testid=toast-action]');
    await page.waitForSelector(secret);
    expect(await stored()).toEqual(before);
    const shown = await page.$$eval('[data-testid=message] [data-testid=message-text]', (els) => els.map((e) => e.textContent?.trim()));
    expect(shown[2]).toBe(SECRET);
  });

  it('the last answer, deleted, leaves the chat ending with the question; a new answer can be written', async () => {
    const count = (await stored()).length;
    const lastAnswer = (await core.api.sessionsOpen({ id: chat })).messages.at(-1)!;
    await page.hover(`[data-testid=message][data-id="${lastAnswer.id}"]`);
    await page.click(`[data-testid=message][data-id="${lastAnswer.id}"] [data-testid=delete-message]`);
    await page.waitForSelector(`[data-testid=message][data-id="${lastAnswer.id}"]`, { state: 'detached' });
    expect(await stored()).toHaveLength(count - 1);
    expect((await core.api.sessionsOpen({ id: chat })).messages.at(-1)!.role).toBe('user');
    await page.fill('[data-testid=composer-input]', 'And then?');
    await page.keyboard.press('Enter');
    const ending = async () => (await core.api.sessionsOpen({ id: chat })).messages.slice(-2).map((m) => [m.role, m.state, m.role === 'user' ? m.text : '']);
    await expect.poll(ending, { timeout: 90_000, interval: 100 }).toEqual([['user', 'done', 'And then?'], ['assistant', 'done', '']]);
    expect(await stored()).toHaveLength(count + 1);
  });
});
