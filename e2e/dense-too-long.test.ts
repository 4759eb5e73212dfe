/**
 * Switching a sink chat whose conversation is longer than the model's context to the dense policy fails, and says
 * so without advising a switch to the sink policy the chat is already on (the chat keeps its policy).
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 4 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const chat = await core.api.sessionsCreate({ name: 'Long on sink', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  // more tokens than the model's whole context, counted by the model's own tokenizer (the built-in model of the
  // screenshot runs packs English far tighter than the generated one)
  const context = model.maxPositions ?? 2048;
  const long = 'The river kept flowing past the old mill. '.repeat(Math.ceil(context / 40));
  for (let seen = 0; seen <= 2 * context; ) {
    const end = await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: chat.id, text: long }, signal)).closed;
    if (end.type !== 'done') throw new Error(`the filler turn ended ${end.type}`);
    seen = end.stats.totalTokensSeen;
  }
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Long on sink")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('a dense switch that does not fit', () => {
  it('says the conversation is too long for a dense cache and that the chat keeps its policy', async () => {
    await page.click('[data-testid=open-policy]');
    await page.check('[data-testid=policy-dense]');
    await page.click('[data-testid=policy-apply]');
    const toast = await page.waitForSelector('[data-testid=toast-error]', { timeout: 90_000 });
    const text = (await toast.textContent()) ?? '';
    expect(text).toContain('longer than the model');
    expect(text).not.toMatch(/switch to the (attention-)?sink/i);
    await page.waitForSelector('[data-testid=stat-policy]:has-text("sink 4 + 252")');
  });
});
