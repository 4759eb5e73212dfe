/**
 * Changing the model of a chat that runs well, from the chat settings panel, in headless Chromium against the real
 * core: the chat moves to the chosen model, its window is cut to that model's smaller context, the transcript stays
 * and the chat answers on the new model. PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/chat-model-switch.png.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { copyModelAs } from '../native-models/test-models.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-change-model-'));
let core: CoreUnderTest;
let h: Harness;
let page: Page;
let ids: { chat: string; small: string; smallName: string };


beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 6 });
  const wide = await core.api.modelsImport({ dir: core.modelDir });
  const small = await core.api.modelsImport({ dir: copyModelAs(core.modelDir, join(dir, 'small-context'), { max_position_embeddings: 128 }) });
  const chat = await core.api.sessionsCreate({ name: 'Moving chat', modelId: wide.id, policy: { name: 'sink', sink: 4, window: 500, pinSystem: false } });
  await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: chat.id, text: 'Once upon a time' }, signal)).closed;
  ids = { chat: chat.id, small: small.id, smallName: small.name };
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Moving chat")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('change the model of a chat', () => {
  it('moves the chat to the chosen model from its settings, with the window cut to that model, and it answers', async () => {
    await page.click('[data-testid=open-chat-settings]');
    await page.waitForSelector('[data-testid=chat-settings][open] [data-testid=chat-model]');
    // the chat's own model is chosen, and switching to it is not offered
    expect(await page.isDisabled('[data-testid=chat-model-switch]')).toBe(true);
    await page.selectOption('[data-testid=chat-model]', ids.small);
    await shot(page, 'chat-model-switch');
    await page.click('[data-testid=chat-model-switch]');
    await page.waitForSelector(`[data-testid=toast-info]:has-text("${ids.smallName}")`);
    await page.waitForFunction(() => document.querySelector('[data-testid=chat-model-switch]')?.hasAttribute('disabled') === true);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=chat-settings][open]', { state: 'detached' });

    await page.waitForSelector('[data-testid=stat-policy]:has-text("4 + 124")');
    const session = (await core.api.sessionsList()).find((s) => s.id === ids.chat);
    expect(session).toMatchObject({ modelId: ids.small, policy: { name: 'sink', sink: 4, window: 124 } });
    expect(await page.locator('[data-testid=message][data-role=user]').count()).toBe(1);

    await page.fill('[data-testid=composer-input]', 'And then');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=user]:has-text("And then")');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 2, null, { timeout: 90_000 });
    const answers = (await core.api.messagesPage({ sessionId: ids.chat, beforeSeq: 1_000_000, limit: 10 })).messages.filter((m) => m.role === 'assistant');
    expect(answers.map((m) => m.state)).toEqual(['done', 'done']);
  });
});
