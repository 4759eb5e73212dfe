/**
 * A window made small (1280×800, then 720×480) in headless Chromium against the real core: the chat list folds away
 * (and comes back when the window is wide again), and the chat's header, figures and message box lie inside the
 * window with nothing cut off — the title whole (or, when it cannot fit, ending in "…" with all of it in a tooltip) and
 * the message box's hint on its line in full (a shorter one where the box is narrow, all of it in the tooltip).
 * PERPETUA_SCREENSHOTS=1 also refreshes docs/screenshots/small-window-chat.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

const NAME = 'Road trip to the sea';
const LONG = 'Notes on the long road trip north to the sea with the whole family, the dog and the old tent';
const SMALL = { width: 720, height: 480 };

interface Fit {
  selector: string;
  left: number;
  top: number;
  right: number;
  bottom: number;
  scrollWidth: number;
  clientWidth: number;
}

/** Where each element lies, and whether its content is wider than its box. */
function fits(page: Page, selectors: string[]): Promise<Fit[]> {
  return page.evaluate((sels) => {
    return sels.map((selector) => {
      const el = document.querySelector(selector);
      if (!el) throw new Error(`${selector} is not shown`);
      const r = el.getBoundingClientRect();
      return { selector, left: r.left, top: r.top, right: r.right, bottom: r.bottom, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
    });
  }, selectors);
}

/** The message box's hint as shown, its width in the box's own font, and the room the box has for it. */
function hint(page: Page): Promise<{ placeholder: string; title: string; width: number; room: number }> {
  return page.evaluate(() => {
    const box = document.querySelector<HTMLTextAreaElement>('[data-testid=composer-input]')!;
    const style = getComputedStyle(box);
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = style.font;
    return {
      placeholder: box.placeholder,
      title: box.title,
      width: ctx.measureText(box.placeholder).width,
      room: box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
    };
  });
}

const SHOWN = [
  '[data-testid=session-title]',
  '[data-testid=open-policy]',
  '[data-testid=open-chat-settings]',
  '[data-testid=open-ab]',
  '[data-testid=open-sinks]',
  '[data-testid=export-md]',
  '[data-testid=composer-input]',
  '[data-testid=send]',
];

describe('a small window (web host + real core, 720×480)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    core = await startCoreUnderTest();
    const model = await core.api.modelsImport({ dir: core.modelDir });
    const policy = { name: 'sink', sink: 4, window: 60, pinSystem: false } as const;
    await core.api.sessionsCreate({ name: LONG, modelId: model.id, policy });
    await core.api.sessionsCreate({ name: NAME, modelId: model.id, policy });
    h = await startHarness(core.api, { width: 1280, height: 800 });
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('folds the chat list when the window is made small, and everything lies in the window uncut', async () => {
    await page.waitForSelector(`[data-testid=session-title]:has-text("${NAME}")`);
    await page.waitForSelector('[data-testid=sidebar]');
    await page.setViewportSize(SMALL);
    await page.waitForSelector('[data-testid=sidebar]', { state: 'detached' });
    await page.waitForFunction(() => document.querySelector<HTMLTextAreaElement>('[data-testid=composer-input]')?.placeholder.startsWith('Message —'));

    for (const f of await fits(page, SHOWN)) {
      expect(f.left, f.selector).toBeGreaterThanOrEqual(0);
      expect(f.top, f.selector).toBeGreaterThanOrEqual(0);
      expect(f.right, f.selector).toBeLessThanOrEqual(SMALL.width);
      expect(f.bottom, f.selector).toBeLessThanOrEqual(SMALL.height);
      expect(f.scrollWidth, f.selector).toBeLessThanOrEqual(f.clientWidth);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(SMALL.width);
    expect(await page.getAttribute('[data-testid=session-title]', 'title')).toBe(NAME);
    const full = await hint(page);
    expect(full.placeholder).toBe('Message — Enter to send, Shift+Enter for a new line');
    expect(full.width).toBeLessThanOrEqual(full.room);
    expect(full.title).toBe(full.placeholder);
    await shot(page, 'small-window-chat');
  });

  it('with the list shown anyway, the hint shortens to fit and the title ends in "…" with all of it in its tooltip', async () => {
    await page.keyboard.press('Control+b');
    await page.waitForSelector('[data-testid=sidebar]');
    await page.waitForFunction(() => document.querySelector<HTMLTextAreaElement>('[data-testid=composer-input]')?.placeholder === 'Message');
    const short = await hint(page);
    expect(short.width).toBeLessThanOrEqual(short.room);
    expect(short.title).toBe('Message — Enter to send, Shift+Enter for a new line');

    await page.click(`[data-testid=session-item]:has-text("${LONG.slice(0, 12)}")`);
    await page.waitForSelector(`[data-testid=session-title]:has-text("${LONG}")`);
    const [title] = await fits(page, ['[data-testid=session-title]']);
    expect(title.scrollWidth).toBeGreaterThan(title.clientWidth); // it cannot fit: it is ellipsized…
    expect(await page.$eval('[data-testid=session-title]', (el) => getComputedStyle(el).textOverflow)).toBe('ellipsis');
    expect(await page.getAttribute('[data-testid=session-title]', 'title')).toBe(LONG); // …and whole in its tooltip
    for (const f of await fits(page, SHOWN)) expect(f.right, f.selector).toBeLessThanOrEqual(SMALL.width);
  });

  it('brings the list back when the window is wide again', async () => {
    await page.setViewportSize(SMALL);
    await page.keyboard.press('Control+b');
    await page.waitForSelector('[data-testid=sidebar]', { state: 'detached' });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForSelector('[data-testid=sidebar]');
    expect(h.pageErrors).toEqual([]);
    expect(await h.cspViolations()).toEqual([]);
  });
});
