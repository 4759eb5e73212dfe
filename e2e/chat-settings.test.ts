/**
 * The chat settings panel in headless Chromium at 720×480 against the real core: Ctrl+, opens it, Esc closes it;
 * temperature, seed, max tokens and a stop string are saved with the chat and still there after a reload; answers
 * honour max tokens and the stop string; each answer shows its time to first token and tokens/s, live while it
 * streams and after a reload; a new system prompt says what it does to the cache, rebuilds it (sending waits) and
 * says what it did. PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/chat-settings.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Message } from '../main/api/schemas.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, waitReady, watchAppearance, type Harness } from './harness.js';

describe('chat settings (web host + real core, 720×480)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let sessionId: string;

  beforeAll(async () => {
    // paced like a real model, so an answer streams long enough to watch its speed
    core = await startCoreUnderTest({ paceTokensMs: 20 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    sessionId = (await core.api.sessionsCreate({ name: 'Tuned', modelId: model.id, policy: { name: 'sink', sink: 4, window: 200, pinSystem: false } })).id;
    h = await startHarness(core.api, { width: 720, height: 480 });
    page = h.page;
    await page.waitForSelector('[data-testid=session-title]:has-text("Tuned")');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  /** The stored answers, as the core keeps them (the page shows them rendered as Markdown). */
  async function answers(): Promise<Message[]> {
    const page = await core.api.messagesPage({ sessionId, beforeSeq: 1_000_000, limit: 100 });
    return page.messages.filter((m) => m.role === 'assistant');
  }

  async function openSettings(): Promise<void> {
    await page.keyboard.press('Control+,');
    await page.waitForSelector('[data-testid=chat-settings][open] [data-testid=gen-temperature]');
  }

  async function saveSettings(): Promise<void> {
    await page.click('[data-testid=gen-save]');
    await page.waitForSelector('[data-testid=chat-settings] [role=status]:has-text("Saved")');
  }

  async function closeSettings(): Promise<void> {
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=chat-settings][open]', { state: 'detached' });
  }

  async function answerDone(): Promise<void> {
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming]) >> nth=-1', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  }

  it('Ctrl+, opens the settings inside the window, with the model defaults shown; Tab stays in it and Esc closes it', async () => {
    await openSettings();
    const box = (await page.locator('[data-testid=chat-settings]').boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(480);
    expect(box.x + box.width).toBeLessThanOrEqual(720);
    // the generated model has no generation_config.json (the usual chat sampling); the built-in one says greedy
    const { defaults } = await core.api.sessionsSettings({ id: sessionId });
    expect(defaults.temperature).toBe(core.modelDir.includes('perpetua-gutenberg') ? 0 : 0.8);
    expect(await page.getAttribute('[data-testid=gen-temperature]', 'placeholder')).toBe(`model: ${defaults.temperature}`);
    expect(await page.getAttribute('[data-testid=gen-maxTokens]', 'placeholder')).toBe('model: 512');
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate(`!!document.activeElement?.closest('[data-testid=chat-settings]')`)).toBe(true);
    }
    await closeSettings();
  });

  it('saves temperature, seed and max tokens; the answer honours them and shows its speed, live and at the end', async () => {
    await openSettings();
    await page.fill('[data-testid=gen-temperature]', '3');
    await page.fill('[data-testid=gen-seed]', '2');
    await page.fill('[data-testid=gen-maxTokens]', '12');
    await saveSettings();
    await closeSettings();
    const liveSpeed = await watchAppearance(page, '[data-testid=message][data-state=streaming] [data-testid=message-speed]', '__liveSpeed');
    await page.fill('[data-testid=composer-input]', 'Once upon a time');
    await page.keyboard.press('Enter');
    await answerDone();
    expect(await liveSpeed()).toBe(true);
    const [first] = await answers();
    expect(first.stats!.tokens).toBeLessThanOrEqual(12);
    expect(first.text.length).toBeGreaterThan(0);
    const speed = await page.textContent('[data-testid=message][data-role=assistant] >> nth=-1 >> [data-testid=message-speed]');
    expect(speed).toMatch(/^\s*\d+(\.\d)? (ms|s) to first token · \d+(\.\d)? tok\/s · \d+ tokens\s*$/);
    expect(speed).toContain(`· ${first.stats!.tokens} tokens`);
    expect(await page.textContent('[data-testid=stat-tps]')).toMatch(/tok\/s/);
  });

  it('ends the answer before a stop string, which is neither shown nor stored', async () => {
    const [first] = await answers();
    const at = [...first.text.slice(2)].findIndex((c) => c.trim() !== '') + 2;
    const stop = first.text.slice(at, at + 2);
    expect(first.text.indexOf(stop)).toBeGreaterThan(0);
    await openSettings();
    await page.fill('[data-testid=gen-stop]', stop.replace(/\\/g, '\\\\').replace(/\n/g, '\\n'));
    await saveSettings();
    await closeSettings();
    await page.hover('[data-testid=message][data-role=assistant] >> nth=-1');
    await page.click('[data-testid=regenerate]');
    await answerDone();
    const [again] = await answers();
    expect(again.id).not.toBe(first.id);
    // the same seed and conversation: the same answer, cut just before the stop string
    expect(again.text).toBe(first.text.slice(0, first.text.indexOf(stop)));
  });

  it('keeps the settings and every answer speed after a reload', async () => {
    await page.reload();
    await waitReady(page);
    await page.waitForSelector('[data-testid=message][data-role=assistant] [data-testid=message-speed]');
    await openSettings();
    await page.waitForFunction((want) => document.querySelector<HTMLInputElement>('[data-testid=gen-temperature]')?.value === want, '3');
    expect(await page.inputValue('[data-testid=gen-seed]')).toBe('2');
    expect(await page.inputValue('[data-testid=gen-maxTokens]')).toBe('12');
    expect(await page.inputValue('[data-testid=gen-stop]')).not.toBe('');
    expect(await page.inputValue('[data-testid=gen-topP]')).toBe(''); // left to the model
    await closeSettings();
  });

  it('reads a comma decimal as the decimal it is (0,7 is 0.7, never 7) and refuses an ambiguous number before saving', async () => {
    await openSettings();
    await page.fill('[data-testid=gen-temperature]', '0,7');
    await saveSettings();
    await page.waitForFunction((want) => document.querySelector<HTMLInputElement>('[data-testid=gen-temperature]')?.value === want, '0.7');
    await page.fill('[data-testid=gen-temperature]', '1.000,5');
    await page.waitForSelector('[data-testid=chat-settings] [role=status]:has-text("type a number")');
    expect(await page.getAttribute('[data-testid=gen-temperature]', 'aria-invalid')).toBe('true');
    expect(await page.isDisabled('[data-testid=gen-save]')).toBe(true);
    await page.fill('[data-testid=gen-temperature]', '3');
    await saveSettings();
    await closeSettings();
  });

  it('states what a new system prompt does to the cache, rebuilds it with sending held, and says what it did', async () => {
    await page.fill('[data-testid=composer-input]', 'What did the keeper see?');
    await openSettings();
    expect(await page.$('[data-testid=system-note]')).toBeNull(); // nothing to apply yet
    await page.fill('[data-testid=system-prompt]', 'You are a lighthouse keeper who speaks in short sentences.');
    // said before it is applied
    expect(await page.textContent('[data-testid=system-note]')).toMatch(/re-reading the transcript \(2 messages\) after the new prompt\. Sending waits/);
    // while the cache is rebuilt, Send stays disabled (the message typed above waits)
    await page.evaluate(`(() => {
      window.__sendHeld = null;
      new MutationObserver(() => {
        if (!document.querySelector('[data-testid=system-apply]')?.textContent?.includes('Rebuilding')) return;
        const send = document.querySelector('[data-testid=send]');
        window.__sendHeld = (window.__sendHeld ?? true) && !!send && send.disabled;
      }).observe(document.body, { childList: true, subtree: true, characterData: true });
    })()`);
    await page.click('[data-testid=system-apply]');
    const statement = await page.waitForSelector('[data-testid=system-statement]', { timeout: 60_000 });
    expect(await statement.textContent()).toMatch(/^The new system prompt now starts the cache: the old cache \(\d+ tokens\) was dropped and rebuilt by re-reading the transcript \(2 messages\)/);
    expect(await page.evaluate('window.__sendHeld')).toBe(true);
    expect(await page.isDisabled('[data-testid=system-apply]')).toBe(true); // nothing left to apply
    expect(await page.textContent('[data-testid=chat-settings] [role=status]')).toContain('Saved');
    await page.setViewportSize({ width: 1000, height: 720 }); // the screenshot shows the whole panel
    await shot(page, 'chat-settings');
    await page.setViewportSize({ width: 720, height: 480 });
    await closeSettings();
    expect(await page.isDisabled('[data-testid=send]')).toBe(false);
    expect((await core.api.sessionsSettings({ id: sessionId })).systemPrompt).toBe('You are a lighthouse keeper who speaks in short sentences.');
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
