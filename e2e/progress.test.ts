/**
 * Long operations in headless Chromium against the real core, on a real long transcript: a policy switch that
 * re-reads it shows a moving bar (percent, time left) and Cancel keeps the old policy; the A/B measurement of the
 * conversation's perplexity shows its progress as it goes and Cancel stores nothing. The A/B view belongs to its
 * chat: a new chat opens in its plain chat view, each chat keeps its own A/B prompt, and a search hit clicked in the
 * A/B view shows the chat with the hit. PERPETUA_SCREENSHOTS=1 also refreshes docs/screenshots/progress.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { PolicyConfig } from '../main/api/schemas.js';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

const SINK: PolicyConfig = { name: 'sink', sink: 4, window: 252, pinSystem: false };
const WORDS = 'the keeper wrote down every ship that passed the lighthouse through the long grey winter nights'.split(' ');
/** messages of the seeded transcript: tens of thousands of tokens, so re-reading it takes seconds */
const N = 400;

/** The progress bar's figures, read from the page. */
async function figures(page: Page, testid: string): Promise<{ done: number; total: number } | null> {
  return page.evaluate(`(() => {
    const el = document.querySelector('[data-testid=${testid}]');
    return el ? { done: Number(el.dataset.done), total: Number(el.dataset.total) } : null;
  })()`) as Promise<{ done: number; total: number } | null>;
}

/** Polls `expression` in the page until it is true (page.waitForFunction would evaluate it under the page's CSP). */
async function until(page: Page, expression: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${expression}`);
    await page.waitForTimeout(20);
  }
}

/** Waits until the bar has moved on from `from` tokens (its figures come from the core's packets). */
async function movedOn(page: Page, testid: string, from: number): Promise<{ done: number; total: number }> {
  await until(page, `(() => { const el = document.querySelector('[data-testid=${testid}]'); return !!el && Number(el.dataset.done) > ${from}; })()`);
  return (await figures(page, testid))!;
}

/** Waits for the bar to show up and move twice over a long operation (tens of thousands of tokens), not finished yet. */
async function expectMoving(page: Page, testid: string): Promise<void> {
  const first = await movedOn(page, testid, 0);
  expect(first.total).toBeGreaterThan(10_000);
  const later = await movedOn(page, testid, first.done);
  expect(later.done).toBeLessThan(later.total);
}

describe('progress and cancel of long operations, and A/B per chat (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let sessionId = '';

  beforeAll(async () => {
    core = await startCoreUnderTest({ maxAnswerTokens: 8 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    sessionId = (await core.api.sessionsCreate({ name: 'Lighthouse log', modelId: model.id, policy: SINK })).id;
    const store = new Store(openDatabase(core.dbFile));
    store.db.transaction(() => {
      for (let i = 0; i < N; i++) {
        const words = Array.from({ length: 40 }, (_, k) => WORDS[(i * 3 + k) % WORDS.length]);
        if (i === 7) words.push('albatross');
        store.appendMessage(Number(sessionId), { role: i % 2 ? 'assistant' : 'user', text: words.join(' ') });
      }
    })();
    store.db.close();
    await core.api.sessionsOpen({ id: sessionId }); // the cache is read once, as any long chat's at start
    h = await startHarness(core.api, { width: 1280, height: 800 });
    page = h.page;
    await page.waitForSelector('[data-testid=session-title]:has-text("Lighthouse log")');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('shows a policy rebuild moving, with percent and time left, and Cancel keeps the old policy', async () => {
    const before = await page.textContent('[data-testid=stat-policy]');
    expect(before).toContain('sink 4 + 252');
    await page.click('[data-testid=open-policy]');
    await page.check('[data-testid=policy-window]');
    await page.fill('[data-testid=policy-window-size]', '128');
    await page.click('[data-testid=policy-apply]');
    await expectMoving(page, 'policy-progress');
    expect(await page.textContent('[data-testid=policy-progress-percent]')).toMatch(/^\d+%$/);
    // the time left, once the core has measured the rate
    await until(page, `/^\\d+ (s|min)/.test(document.querySelector('[data-testid=policy-progress-eta]')?.textContent ?? '')`);
    await shot(page, 'progress');
    await page.click('[data-testid=policy-progress-cancel]');
    await page.waitForSelector('[data-testid=policy-progress]', { state: 'detached', timeout: 30_000 });
    await page.waitForSelector('[data-testid=policy-apply]:has-text("Apply")');
    expect(await page.$('[data-testid=policy-statement]')).toBeNull();
    expect(await page.textContent('[data-testid=stat-policy]')).toBe(before);
    const opened = (await page.evaluate(`window.perpetua.sessionsOpen({ id: ${JSON.stringify(sessionId)}, limit: 1 })`)) as {
      session: { policy: PolicyConfig };
      stats: { policy: PolicyConfig; cacheCapacity: number };
    };
    expect(opened.session.policy).toEqual(SINK);
    expect(opened.stats).toMatchObject({ policy: SINK, cacheCapacity: 256 });
    await page.keyboard.press('Escape');
    // the kept cache still answers
    await page.fill('[data-testid=composer-input]', 'What did the keeper see next?');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant][data-state=done] >> nth=-1', { timeout: 60_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 60_000 });
  });

  it('shows the A/B measurement of the conversation moving, and Cancel stores nothing and leaves the chat as it was', async () => {
    const messagesBefore = ((await page.evaluate(`window.perpetua.sessionsOpen({ id: ${JSON.stringify(sessionId)}, limit: 1 })`)) as { session: { messageCount: number } }).session.messageCount;
    await page.click('[data-testid=open-ab]');
    await page.waitForSelector('[data-testid=ab-panel]');
    await page.fill('[data-testid=ab-prompt]', 'And on the last night of winter');
    await page.fill('[data-testid=ab-max-tokens]', '4');
    await page.click('[data-testid=ab-run]');
    await expectMoving(page, 'ab-progress-a');
    expect(await page.textContent('[data-testid=ab-status-a]')).toContain('Measuring');
    await shot(page, 'ab-progress');
    await page.click('[data-testid=ab-progress-a-cancel]');
    await page.waitForSelector('[data-testid=ab-status-a]:has-text("Stopped.")', { timeout: 30_000 });
    expect(await page.$('[data-testid=ab-progress-a]')).toBeNull();
    const history = (await page.evaluate(`window.perpetua.abHistory({ sessionId: ${JSON.stringify(sessionId)} })`)) as { runs: unknown[] };
    expect(history.runs).toEqual([]);
    const after = (await page.evaluate(`window.perpetua.sessionsOpen({ id: ${JSON.stringify(sessionId)}, limit: 1 })`)) as { session: { messageCount: number; policy: PolicyConfig } };
    expect(after.session).toMatchObject({ messageCount: messagesBefore, policy: SINK });
  });

  it('keeps the A/B view and its prompt with its chat; a new chat opens in its chat view', async () => {
    expect(await page.inputValue('[data-testid=ab-prompt]')).toBe('And on the last night of winter');
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Fresh start');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Fresh start")');
    await page.waitForSelector('[data-testid=chat-view]');
    expect(await page.$('[data-testid=ab-panel]')).toBeNull();
    await page.click('[data-testid=open-ab]');
    expect(await page.inputValue('[data-testid=ab-prompt]')).toBe('');
    expect(await page.$('[data-testid=ab-column-a]')).toBeNull();
    await page.fill('[data-testid=ab-prompt]', 'A prompt of the fresh chat');
    // back to the long chat: its own comparison, as it was left
    await page.click('[data-testid=session-item]:has-text("Lighthouse log")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Lighthouse log")');
    expect(await page.inputValue('[data-testid=ab-prompt]')).toBe('And on the last night of winter');
    expect(await page.textContent('[data-testid=ab-status-a]')).toBe('Stopped.');
    await page.click('[data-testid=session-item]:has-text("Fresh start")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Fresh start")');
    expect(await page.inputValue('[data-testid=ab-prompt]')).toBe('A prompt of the fresh chat');
  });

  it('shows the chat with the hit when a search hit is clicked in the A/B view', async () => {
    await page.click('[data-testid=session-item]:has-text("Lighthouse log")');
    await page.waitForSelector('[data-testid=ab-panel]');
    await page.fill('[data-testid=search-input]', 'albatross');
    await (await page.waitForSelector('[data-testid=search-hit]')).click();
    await page.waitForSelector('[data-testid=chat-view]');
    expect(await page.$('[data-testid=ab-panel]')).toBeNull();
    await page.waitForSelector('[data-testid=message][data-seq="8"]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid=message][data-seq="8"]')).toContain('albatross');
    // from another chat in its A/B view, too
    await page.fill('[data-testid=search-input]', '');
    await page.click('[data-testid=session-item]:has-text("Fresh start")');
    await page.waitForSelector('[data-testid=ab-panel]');
    await page.fill('[data-testid=search-input]', 'albatross');
    await (await page.waitForSelector('[data-testid=search-hit]')).click();
    await page.waitForSelector('[data-testid=session-title]:has-text("Lighthouse log")');
    await page.waitForSelector('[data-testid=message][data-seq="8"]', { timeout: 30_000 });
    expect(await page.$('[data-testid=ab-panel]')).toBeNull();
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
