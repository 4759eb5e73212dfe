/**
 * What the model still sees, in headless Chromium against the real core: a chat whose cache (4 sinks + 64 recent
 * tokens, system prompt pinned) overflows shows a divider where the cache's memory begins, updated while the
 * answer streams; the kept system prompt and first turn are marked; a paste larger than the window is warned
 * about before it is sent; the stats bar shows tokens seen vs held. PERPETUA_SCREENSHOTS=1 refreshes
 * docs/screenshots/memory-view.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { pasteText, shot, startHarness, type Harness } from './harness.js';

const PARA = 'Tom walked to the old mill by the river and counted the turns of the big wheel. ';

describe('what the model still sees (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    // short answers, so the first exchange fits the window and the paste overflows it
    core = await startCoreUnderTest({ paceTokensMs: 8, maxAnswerTokens: 24 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    await core.api.sessionsCreate({
      name: 'Memory',
      modelId: model.id,
      policy: { name: 'sink', sink: 4, window: 64, pinSystem: true },
      systemPrompt: 'You tell short stories.',
    });
    h = await startHarness(core.api);
    page = h.page;
    await page.waitForSelector('[data-testid=stats-bar]');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function answered(): Promise<void> {
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming]) >> nth=-1', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  }

  it('sees the whole short chat: no divider, held = seen', async () => {
    await page.fill('[data-testid=composer-input]', 'Once upon a time');
    await page.keyboard.press('Enter');
    await answered();
    expect(await page.$('[data-testid=memory-divider]')).toBeNull();
    const seen = Number((await page.textContent('[data-testid=stat-seen]'))!.replace(/[^0-9]/g, ''));
    const held = Number((await page.textContent('[data-testid=stat-held]'))!.replace(/[^0-9]/g, ''));
    expect(held).toBe(seen);
    await page.waitForSelector('[data-testid=system-kept]');
  });

  it('warns before sending a paste larger than the window, and Edit keeps it', async () => {
    await pasteText(page, '[data-testid=composer-input]', PARA.repeat(300));
    await page.waitForSelector('[data-testid=paste-chip]');
    await page.keyboard.press('Enter');
    const warning = await page.waitForSelector('[data-testid=paste-warning]');
    const capacity = (await page.textContent('[data-testid=stat-cache]'))!.split('/')[1].replace(/[^0-9]/g, '');
    expect(await warning.textContent()).toContain(`the model holds ${capacity}.`);
    await page.click('[data-testid=paste-warning-cancel]');
    await page.waitForSelector('[data-testid=paste-warning]', { state: 'detached' });
    await page.waitForSelector('[data-testid=paste-chip]');
    expect(await page.$$eval('[data-testid=message]', (els) => els.length)).toBe(2);
  });

  it('draws the divider while the answer streams, inside the paste, with the first turn kept', async () => {
    // records, in the page, whether a divider was shown while an answer was still streaming
    await page.evaluate(`(() => {
      window.__dividerWhileStreaming = false;

      new MutationObserver(() => {
        if (document.querySelector('[data-testid=message][data-state=streaming]') && document.querySelector('[data-testid=memory-divider]'))
          window.__dividerWhileStreaming = true;
      }).observe(document.body, { childList: true, subtree: true, attributes: true });
    })()`);
    await page.keyboard.press('Enter');
    await page.click('[data-testid=paste-warning-send]');
    await answered();
    expect(await page.evaluate('window.__dividerWhileStreaming')).toBe(true);
    const divider = await page.waitForSelector('[data-testid=memory-divider]');
    expect((await divider.textContent())?.replace(/\s+/g, ' ')).toMatch(/no longer sees above this line — of the next message it sees only the last \d+ tokens/);
    // the divider sits right above the pasted message (seq 3), the first turn (seq 1) is kept
    const next = await page.evaluate(`document.querySelector('[data-testid=memory-divider]').nextElementSibling.getAttribute('data-seq')`);
    expect(next).toBe('3');
    expect(await page.getAttribute('[data-testid=message][data-seq="2"]', 'class')).toContain('forgotten');
    await page.waitForSelector('[data-testid=system-kept]');
    const seen = Number((await page.textContent('[data-testid=stat-seen]'))!.replace(/[^0-9]/g, ''));
    const held = Number((await page.textContent('[data-testid=stat-held]'))!.split('(')[0].replace(/[^0-9]/g, ''));
    // 64 recent tokens plus the kept head: 4 sinks, or the whole system prompt's turn when it is longer (pinned)
    const capacity = Number((await page.textContent('[data-testid=stat-cache]'))!.split('/')[1].replace(/[^0-9]/g, ''));
    expect(capacity).toBeGreaterThanOrEqual(68);
    expect(capacity).toBeLessThan(100);
    expect(held).toBeLessThanOrEqual(capacity);
    expect(seen).toBeGreaterThan(1000);
    await page.hover('[data-testid=memory-divider]');
    await page.evaluate(`document.querySelector('[data-testid=memory-divider]').scrollIntoView({ block: 'center' })`);
    await shot(page, 'memory-view');
  });

  it('moves the divider down as the conversation goes on', async () => {
    const where = async () => {
      const seq = Number(await page.evaluate(`document.querySelector('[data-testid=memory-divider]').nextElementSibling.getAttribute('data-seq')`));
      const held = Number((await page.textContent('[data-testid=memory-divider]'))!.match(/last (\d+) tokens/)?.[1] ?? 0);
      return { seq, held };
    };
    const before = await where();
    await page.fill('[data-testid=composer-input]', 'And then Tom went home and slept for a long time, dreaming of the wheel.');
    await page.keyboard.press('Enter');
    await answered();
    const after = await where();
    // further down: a later message, or less of the same one
    expect(after.seq > before.seq || (after.seq === before.seq && after.held < before.held)).toBe(true);
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
