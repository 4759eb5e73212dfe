/**
 * While a policy switch rebuilds the cache, Send is not just greyed: the composer says why it waits.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { startHarness, watchAppearance, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 4 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const chat = await core.api.sessionsCreate({ name: 'Rebuilt', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  // a long transcript, so the rebuild takes a while
  const long = 'The river kept flowing past the old mill. '.repeat(400);
  await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: chat.id, text: long }, signal)).closed;
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Rebuilt")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('Send during a policy switch', () => {
  it('says it waits for the rebuild, and the reason goes with it', async () => {
    const sawWait = await watchAppearance(page, '[data-testid=send-wait]', '__sawWait');
    await page.click('[data-testid=open-policy]');
    await page.check('[data-testid=policy-window]');
    await page.fill('[data-testid=policy-window-size]', '64');
    await page.click('[data-testid=policy-apply]');
    await page.waitForSelector('[data-testid=stat-policy]:has-text("window 64")');
    expect(await sawWait()).toBe(true);
    await page.waitForSelector('[data-testid=send-wait]', { state: 'detached' });
  });
});
