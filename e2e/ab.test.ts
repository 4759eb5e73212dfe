/**
 * The A/B comparison in headless Chromium, through the web host, against the real core and a tiny model:
 * chat once, compare sink:4:32 with window:0:24 on the same prompt (two streaming columns, metrics), continue
 * the chat from B, vote on a second run, and read the history as a chart and tables — without a CSP violation.
 * PERPETUA_SCREENSHOTS=1 also refreshes docs/screenshots/ab-compare.png and ab-summary.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { AbHistoryResult, PolicyConfig } from '../main/api/schemas.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { SHOTS, shot, startHarness, watchAppearance, type Harness } from './harness.js';

async function pickPolicy(page: Page, label: 'a' | 'b', p: PolicyConfig): Promise<void> {
  await page.selectOption(`[data-testid=ab-${label}-policy]`, p.name);
  if (p.name === 'sink') await page.fill(`[data-testid=ab-${label}-sink]`, String(p.sink));
  await page.fill(`[data-testid=ab-${label}-window]`, String(p.window));
  await page.setChecked(`[data-testid=ab-${label}-pin]`, p.pinSystem);
}

const A: PolicyConfig = { name: 'sink', sink: 4, window: 32, pinSystem: false };
const B: PolicyConfig = { name: 'window', sink: 0, window: 24, pinSystem: false };

describe('A/B comparison e2e (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let sessionId = '';
  const answers = { a: '', b: '' };

  beforeAll(async () => {
    // a real model's pace, so "streams in as written" does not depend on how fast this machine runs the tiny model
    core = await startCoreUnderTest({ paceTokensMs: 10 });
    h = await startHarness(core.api, { width: 1360, height: 900 });
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function history(): Promise<AbHistoryResult> {
    return (await page.evaluate(`window.perpetua.abHistory({ sessionId: ${JSON.stringify(sessionId)} })`)) as AbHistoryResult;
  }

  it('sets up a chat and answers once', async () => {
    await page.click('[data-testid=open-models]');
    await page.fill('[data-testid=model-dir]', core.modelDir);
    await page.click('[data-testid=model-import]');
    await page.waitForSelector('[data-testid=model-item]');
    await page.keyboard.press('Escape');
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Road trip');
    await page.fill('[data-testid=new-session-system]', 'You are a storyteller.');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Road trip")');
    sessionId = (await page.evaluate(`window.perpetua.sessionsList().then((s) => s.find((x) => x.name === 'Road trip').id)`)) as string;
    await page.fill('[data-testid=composer-input]', 'We packed the car for the long trip north.');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming])', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  });

  it('runs sink:4:32 against window:0:24: two columns stream side by side, then the metrics', async () => {
    await page.click('[data-testid=open-ab]');
    await page.waitForSelector('[data-testid=ab-panel]');
    // the form proposes the chat as it runs (sink 4 + 1020, not pinned) against a window of the same budget
    const chat = ((await page.evaluate(`window.perpetua.sessionsList()`)) as { id: string; policy: PolicyConfig }[]).find((s) => s.id === sessionId)!;
    expect(chat.policy).toMatchObject({ name: 'sink', pinSystem: false });
    expect(await page.inputValue('[data-testid=ab-a-window]')).toBe(String(chat.policy.window));
    expect(await page.isChecked('[data-testid=ab-a-pin]')).toBe(false);
    expect(await page.inputValue('[data-testid=ab-b-policy]')).toBe('window');
    expect(await page.inputValue('[data-testid=ab-b-window]')).toBe(String(chat.policy.sink + chat.policy.window));
    await pickPolicy(page, 'a', A);
    await pickPolicy(page, 'b', B);
    await page.fill('[data-testid=ab-prompt]', 'Then the road turned toward the sea, and');
    await page.fill('[data-testid=ab-max-tokens]', SHOTS ? '96' : '40');
    const sawStop = await watchAppearance(page, '[data-testid=ab-stop]', '__sawAbStop');
    // count how often each column's text changes, and the longest gap between two frames while both stream
    await page.evaluate(`(() => {
      window.__abUpdates = { a: 0, b: 0 };
      new MutationObserver((records) => {
        for (const label of ['a', 'b']) {
          if (records.some((r) => (r.target.parentElement ?? r.target).closest?.('[data-testid=ab-answer-' + label + ']'))) window.__abUpdates[label]++;
        }
      }).observe(document.body, { childList: true, subtree: true, characterData: true });
      window.__maxFrameGap = 0;
      let last = performance.now();
      const tick = (t) => { window.__maxFrameGap = Math.max(window.__maxFrameGap, t - last); last = t; if (!window.__stopFrames) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })()`);
    await page.click('[data-testid=ab-run]');
    await page.waitForSelector('[data-testid=ab-vote]', { timeout: 120_000 });
    expect(await sawStop()).toBe(true);
    const updates = (await page.evaluate('window.__stopFrames = true, window.__abUpdates')) as { a: number; b: number };
    // the UI kept drawing frames while both columns streamed
    expect((await page.evaluate('window.__maxFrameGap')) as number).toBeLessThan(1000);

    const done = (await history()).runs[0];
    for (const label of ['a', 'b'] as const) {
      answers[label] = done[label].answer;
      expect(answers[label].length).toBeGreaterThan(0);
      // streamed in as it was written, not dropped in at the end (a model may well end its answer early)
      if (done[label].tokens >= 8) expect(updates[label]).toBeGreaterThan(2);
      expect(await page.textContent(`[data-testid=ab-answer-${label}]`)).toBe(answers[label]);
      await page.waitForSelector(`[data-testid=ab-metrics-${label}]`);
      for (const key of ['p50', 'p90', 'tps', 'fill', 'kv', 'ppl']) {
        expect((await page.textContent(`[data-testid=ab-metric-${label}-${key}]`))?.trim()).toMatch(/\d/);
      }
      expect(await page.textContent(`[data-testid=ab-status-${label}]`)).toBe('Done.');
    }
    expect(await page.textContent('[data-testid=ab-metric-a-fill]')).toMatch(/\/ 36$/);
    expect(await page.textContent('[data-testid=ab-metric-b-fill]')).toMatch(/\/ 24$/);
    expect(await page.textContent('[data-testid=ab-column-a]')).toContain('sink 4 + 32');
    expect(await page.textContent('[data-testid=ab-column-b]')).toContain('window 24');
    expect(done).toMatchObject({ vote: null, a: { policy: A }, b: { policy: B } });
    await page.locator('[data-testid=ab-vote]').scrollIntoViewIfNeeded();
    await shot(page, 'ab-compare');
  });

  it('votes B and continues the chat from it', async () => {
    await page.click('[data-testid=ab-continue-b]');
    const statement = await page.waitForSelector('[data-testid=ab-statement]');
    expect(await statement.textContent()).toContain('continues from B: window (last 24 tokens)');
    await page.waitForSelector('[data-testid=stat-policy]:has-text("window 24")');

    const { runs } = await history();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ sessionId, vote: 'b', prompt: 'Then the road turned toward the sea, and', b: { answer: answers.b, policy: B } });
    const opened = (await page.evaluate(`window.perpetua.sessionsOpen({ id: ${JSON.stringify(sessionId)} })`)) as {
      session: { policy: PolicyConfig };
      messages: { role: string; text: string }[];
    };
    expect(opened.session.policy).toEqual(B);
    expect(opened.messages.slice(-2).map((m) => [m.role, m.text])).toEqual([
      ['user', 'Then the road turned toward the sea, and'],
      ['assistant', answers.b],
    ]);

    // the chat shows B's answer as its newest message
    await page.click('[data-testid=ab-back-to-chat]');
    await page.waitForSelector('[data-testid=chat-view]');
    // the view first holds the streamed pieces, then the stored answer (bytes of a character split across tokens
    // decode once joined): wait for the state, then compare; the answer is shown as Markdown, whose paragraphs
    // leave no blank line in the text, so the two are compared without their white space
    const bare = (text: string | null | undefined) => (text ?? '').replace(/\s+/g, '');
    const lastText = () => page.textContent('[data-testid=message][data-role=assistant] >> nth=-1 >> [data-testid=message-text]');
    await page
      .waitForFunction(
        (want) => {
          const shown = document.querySelectorAll('[data-testid=message][data-role=assistant] [data-testid=message-text]');
          return (shown[shown.length - 1]?.textContent ?? '').replace(/\s+/g, '') === want;
        },
        bare(answers.b),
        { timeout: 30_000 },
      )
      .catch(() => undefined);
    expect(bare(await lastText())).toBe(bare(answers.b));
  });

  it('stores a plain vote on a second run without touching the chat', async () => {
    await page.click('[data-testid=open-ab]');
    await page.fill('[data-testid=ab-prompt]', 'At the harbour they found');
    await page.click('[data-testid=ab-run]');
    await page.waitForSelector('[data-testid=ab-vote]', { timeout: 120_000 });
    await page.click('[data-testid=ab-vote-a]');
    await page.waitForSelector('[data-testid=ab-vote-stored]');
    const { runs, summary } = await history();
    expect(runs.map((r) => r.vote)).toEqual(['a', 'b']);
    expect(summary.policies.map((p) => [p.key, p.wins, p.losses])).toEqual([
      ['sink:4:32', 1, 1],
      ['window:0:24', 1, 1],
    ]);
    expect(await page.textContent('[data-testid=stat-policy]')).toContain('window 24');
  });

  it('shows the history as a chart and tables', async () => {
    await page.click('[data-testid=ab-tab-summary]');
    await page.waitForSelector('[data-testid=ab-summary]');
    await page.waitForSelector('[data-testid=ab-chart-votes] svg text:has-text("Votes per policy")', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=ab-chart-medians] svg text:has-text("Median per policy")');
    // bars: one path per (policy, series) with a value
    expect(await page.$$eval('[data-testid=ab-chart-votes] svg path[fill]:not([fill=none])', (ps) => ps.length)).toBeGreaterThanOrEqual(2);
    const texts = await page.$$eval('[data-testid=ab-chart] svg text', (els) => els.map((e) => e.textContent ?? ''));
    expect(texts).toContain('Votes per policy');
    expect(texts).toContain('sink 4 + 32');
    expect(texts).toContain('window 24');
    expect(await page.textContent('[data-testid=ab-counts]')).toContain('2 runs · 2 voted');
    expect(await page.$$eval('[data-testid=ab-policy-row]', (rows) => rows.map((r) => r.getAttribute('data-key')))).toEqual(['sink:4:32', 'window:0:24']);
    expect(await page.$$eval('[data-testid=ab-run-vote]', (cells) => cells.map((c) => c.textContent))).toEqual(['A', 'B']);
    // tooltips are drawn inside the chart (no inline-styled HTML)
    const box = (await page.$('[data-testid=ab-chart-medians]'))!;
    const b = (await box.boundingBox())!;
    await page.mouse.move(b.x + b.width * 0.3, b.y + b.height * 0.6);
    await page.waitForTimeout(300);
    await page.mouse.move(b.x + b.width * 0.75, b.y + b.height * 0.6);
    await page.waitForTimeout(300);
    await page.mouse.move(b.x + b.width + 40, b.y - 40);
    await shot(page, 'ab-summary');
    // and all chats
    await page.click('[data-testid=ab-scope-all]');
    await page.waitForSelector('[data-testid=ab-scope-all].on');
    expect(await page.textContent('[data-testid=ab-counts]')).toContain('2 runs');
  });

  it('re-colours the chart in the dark theme', async () => {
    await page.click('[data-testid=theme-toggle]');
    expect(await page.getAttribute('html', 'data-theme')).toBe('dark');
    // the chart re-colours on the theme's change: wait for that state, not for a time
    await expect
      .poll(() => page.$eval('[data-testid=ab-chart-votes] svg text', (t) => t.getAttribute('fill')?.toLowerCase()), { timeout: 30_000, interval: 50 })
      .not.toBe('#1d1c1a');
    await page.click('[data-testid=theme-toggle]');
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
