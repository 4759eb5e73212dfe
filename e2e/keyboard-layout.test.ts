/**
 * Keyboard-first and small windows, in headless Chromium at 720×480 against the real core: the chat list folds
 * away, Ctrl+N / Ctrl+K / Ctrl+, (chat settings) / Ctrl+B work, the policy popover closes on Esc and outside clicks with Apply in
 * view, Tab reaches the composer without walking every Copy button, toasts leave Send uncovered, "pinned" shows
 * only where pinning applies, a typed chat name survives a model change, and the speed never reads "0.0 tok/s".
 * PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/small-window.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { testModelDir } from '../native-models/test-models.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

async function box(page: Page, selector: string) {
  const b = await page.locator(selector).boundingBox();
  if (!b) throw new Error(`${selector} is not shown`);
  return b;
}

function overlaps(a: { x: number; y: number; width: number; height: number }, b: typeof a): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

async function focusedTestId(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const el = document.activeElement;
    return el?.getAttribute('data-testid') ?? el?.getAttribute('aria-label') ?? el?.tagName ?? '';
  })()`) as Promise<string>;
}

describe('keyboard and a 720×480 window (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    // paced like a real model, so the first answer streams long enough to watch the speed readout
    core = await startCoreUnderTest({ paceTokensMs: 15 });
    await core.api.modelsImport({ dir: core.modelDir });
    await core.api.modelsImport({ dir: testModelDir({ seed: 99 }) });
    h = await startHarness(core.api, { width: 720, height: 480 });
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('starts with the chat list folded; Ctrl+B and the toggle show and hide it', async () => {
    expect(await page.$('[data-testid=sidebar]')).toBeNull();
    await page.keyboard.press('Control+b');
    await page.waitForSelector('[data-testid=sidebar]');
    await page.click('[data-testid=sidebar-fold]');
    await page.waitForSelector('[data-testid=sidebar]', { state: 'detached' });
    await page.click('[data-testid=sidebar-toggle]');
    await page.waitForSelector('[data-testid=sidebar]');
  });

  it('Ctrl+N opens a new chat; a typed name survives a model change', async () => {
    await page.keyboard.press('Control+n');
    await page.waitForSelector('[data-testid=new-session-dialog][open]');
    await page.fill('[data-testid=new-session-name]', 'Small window');
    const models = await page.$$eval('[data-testid=new-session-model] option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(models).toHaveLength(2);
    await page.selectOption('[data-testid=new-session-model]', models[1]);
    expect(await page.inputValue('[data-testid=new-session-name]')).toBe('Small window');
    await page.selectOption('[data-testid=new-session-policy]', 'window');
    expect(await page.isDisabled('[data-testid=new-session-pin]')).toBe(true);
    await page.selectOption('[data-testid=new-session-policy]', 'sink');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Small window")');
  });

  it('never reads "0.0 tok/s" while the first answer streams', async () => {
    const zero = await page.evaluate(`(() => {
      window.__zeroTps = false;
      const check = () => { const t = document.querySelector('[data-testid=stat-tps]')?.textContent ?? ''; if (/^0\\.0/.test(t)) window.__zeroTps = true; };
      new MutationObserver(check).observe(document.body, { childList: true, subtree: true, characterData: true });
      check();
      return window.__zeroTps;
    })()`);
    expect(zero).toBe(false);
    await page.fill('[data-testid=composer-input]', 'Once upon a time there was a little fox.');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant][data-state=streaming]');
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming])', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]');
    expect(await page.evaluate('window.__zeroTps')).toBe(false);
    expect(await page.textContent('[data-testid=stat-tps]')).toMatch(/tok\/s/);
  });

  it('Ctrl+K moves focus to the chat search', async () => {
    await page.focus('[data-testid=composer-input]');
    await page.keyboard.press('Control+k');
    expect(await focusedTestId(page)).toBe('search-input');
    await page.keyboard.press('Escape');
  });

  it('Ctrl+, opens the chat settings; the policy popover has Apply in view; Esc and an outside click close them', async () => {
    await page.keyboard.press('Control+,');
    await page.waitForSelector('[data-testid=chat-settings][open]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=chat-settings][open]', { state: 'detached' });
    await page.click('[data-testid=open-policy]');
    await page.waitForSelector('[data-testid=policy-switcher]');
    const apply = await box(page, '[data-testid=policy-apply]');
    expect(apply.y + apply.height).toBeLessThanOrEqual(480);
    expect(apply.x + apply.width).toBeLessThanOrEqual(720);
    await shot(page, 'small-window');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=policy-switcher]', { state: 'detached' });
    expect(await focusedTestId(page)).toBe('open-policy');
    await page.click('[data-testid=open-policy]');
    await page.waitForSelector('[data-testid=policy-switcher]');
    const panel = await box(page, '[data-testid=policy-switcher]');
    await page.mouse.click(panel.x - 20, 300); // on the transcript, beside the panel
    await page.waitForSelector('[data-testid=policy-switcher]', { state: 'detached' });
  });

  it('says "pinned" only for the policy that keeps pinned tokens', async () => {
    await page.click('[data-testid=open-policy]');
    await page.check('[data-testid=policy-sink]');
    await page.setChecked('[data-testid=policy-pin]', true);
    await page.click('[data-testid=policy-apply]');
    await page.waitForSelector('[data-testid=open-policy]:has-text("pinned")');
    await page.check('[data-testid=policy-window]');
    expect(await page.isDisabled('[data-testid=policy-pin]')).toBe(true);
    await page.click('[data-testid=policy-apply]');
    await page.waitForSelector('[data-testid=stat-policy]:has-text("window")');
    expect(await page.textContent('[data-testid=open-policy]')).not.toContain('pinned');
    expect(await page.textContent('[data-testid=stat-policy]')).not.toContain('pinned');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=policy-switcher]', { state: 'detached' });
  });

  it('Tab goes from the header to the composer past one message, not every Copy button', async () => {
    // the list is virtual (only what is in view is in the page), so turns are counted by seq, not by elements
    const lastSeq = () => page.$$eval('[data-testid=message]', (els) => Math.max(0, ...els.map((e) => Number(e.getAttribute('data-seq')))));
    for (const text of ['And then?', 'What happened next?']) {
      const before = await lastSeq();
      await page.fill('[data-testid=composer-input]', text);
      await page.keyboard.press('Enter');
      // this turn's answer is in and finished (Send shows again both while the message is sent and once it is done)
      const answer = `[data-testid=message][data-role=assistant][data-seq="${before + 2}"]:not([data-state=streaming])`;
      await page.waitForSelector(answer, { timeout: 90_000 });
      await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
    }
    expect(await lastSeq()).toBeGreaterThanOrEqual(6);
    await page.focus('[data-testid=export-md]');
    const stops: string[] = [];
    for (let i = 0; i < 8 && stops[stops.length - 1] !== 'composer-input'; i++) {
      await page.keyboard.press('Tab');
      stops.push(await focusedTestId(page));
    }
    expect(stops[stops.length - 1]).toBe('composer-input');
    expect(stops.filter((s) => s === 'Copy message').length).toBe(1);
    // arrows walk the messages' buttons
    // back from the composer into the newest message's buttons (Continue, Regenerate, Copy: a cut answer has Continue)
    for (let i = 0; i < 4 && (await focusedTestId(page)) !== 'Copy message'; i++) await page.keyboard.press('Shift+Tab');
    expect(await focusedTestId(page)).toBe('Copy message');
    const seqOf = () => page.evaluate(`document.activeElement.closest('[data-testid=message]').getAttribute('data-seq')`);
    const before = Number(await seqOf());
    await page.keyboard.press('ArrowUp');
    expect(Number(await seqOf())).toBe(before - 1);
  });

  it('shows toasts clear of the Send button', async () => {
    await page.keyboard.press('Enter'); // the focused Copy button
    await page.waitForSelector('[data-testid^=toast-]');
    expect(overlaps(await box(page, '[data-testid^=toast-]'), await box(page, '[data-testid=send]'))).toBe(false);
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
