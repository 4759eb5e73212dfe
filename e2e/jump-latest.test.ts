/**
 * Scrolled up in a long chat, a button brings the newest messages back into view (and the list follows them again).
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

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 24 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const chat = await core.api.sessionsCreate({ name: 'Many turns', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  for (let i = 0; i < 14; i++) {
    await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: chat.id, text: `Turn ${i}: the keeper climbed the stairs again.` }, signal)).closed;
  }
  h = await startHarness(core.api, { width: 1000, height: 600 });
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Many turns")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

/** Whether the newest message's row is inside the chat's viewport. */
const newestInView = () =>
  page.$eval('[data-testid=chat-view]', (view) => {
    const rows = view.querySelectorAll('[data-testid=message]');
    const last = rows[rows.length - 1];
    if (!last) return false;
    const v = view.getBoundingClientRect();
    const r = last.getBoundingClientRect();
    return r.bottom > v.top && r.top < v.bottom && last.textContent !== null;
  });

describe('jump to the latest messages', () => {
  it('appears once the reader scrolls up, and brings the newest messages back', async () => {
    await page.waitForSelector('[data-testid=message] >> nth=-1');
    expect(await page.$('[data-testid=jump-latest]')).toBeNull();
    await page.mouse.move(500, 300);
    await page.mouse.wheel(0, -4000);
    await page.waitForSelector('[data-testid=jump-latest]');
    await shot(page, 'jump-latest');
    await page.click('[data-testid=jump-latest]');
    await page.waitForSelector('[data-testid=jump-latest]', { state: 'detached' });
    await expect.poll(newestInView, { timeout: 10_000, interval: 50 }).toBe(true);
  });
});
