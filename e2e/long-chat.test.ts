/**
 * The endless chat view with 10,000 messages, in headless Chromium against the real core: the DOM stays
 * small (virtualized), the reader can scroll back through every page without jumps, streaming stays
 * smooth, and a search hit 9,000 messages back is brought into view.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { startHarness, type Harness } from './harness.js';

const N = 10_000;
const WORDS = 'the sink tokens keep attention steady while the window slides over an endless conversation'.split(' ');

function seedText(i: number): string {
  const n = 2 + ((i * 7919) % 70);
  return `#${i} ` + Array.from({ length: n }, (_, k) => WORDS[(i + k) % WORDS.length]).join(' ') + (i === 1000 ? ' quetzalcoatl' : '');
}

interface Probe {
  scrollTop: number;
  rows: number;
  first: number;
  last: number;
}

async function probe(page: Page): Promise<Probe> {
  return page.evaluate(`(() => {
    const v = document.querySelector('[data-testid=virtual-list]');
    const seqs = [...v.querySelectorAll('[data-testid=message]')].map((e) => Number(e.getAttribute('data-seq')));
    return { scrollTop: v.scrollTop, rows: seqs.length, first: seqs[0], last: seqs[seqs.length - 1] };
  })()`) as Promise<Probe>;
}

describe('10,000-message chat (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    // tokens arrive at a real model's pace, so the streaming answer lasts long enough to watch frames
    core = await startCoreUnderTest({ paceTokensMs: 4 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    const session = await core.api.sessionsCreate({
      name: 'Ten thousand',
      modelId: model.id,
      policy: { name: 'sink', sink: 4, window: 252, pinSystem: false },
    });
    // Open it once (empty, so the cache is ready at once), then write the long transcript straight into
    // the store: the UI reads it page by page like any long-lived chat.
    await core.api.sessionsOpen({ id: session.id });
    const store = new Store(openDatabase(core.dbFile));
    store.db.transaction(() => {
      for (let i = 1; i <= N; i++) store.appendMessage(Number(session.id), { role: i % 2 ? 'user' : 'assistant', text: seedText(i) });
    })();
    store.db.close();
    h = await startHarness(core.api);
    page = h.page;
    await page.waitForSelector('[data-testid=message]');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('opens at the newest message with only a screenful of rows in the DOM', async () => {
    const p = await probe(page);
    expect(p.last).toBe(N);
    expect(p.rows).toBeLessThan(60);
  });

  it('scrolls back through all 10,000 messages, loading pages, without jumps', async () => {
    await page.mouse.move(700, 400);
    let p = await probe(page);
    const started = Date.now();
    for (let i = 0; i < 400 && p.first !== 1; i++) {
      await page.mouse.wheel(0, -20_000);
      await page.waitForTimeout(30);
      const next = await probe(page);
      expect(next.first).toBeLessThanOrEqual(p.first); // never thrown forward while reading backwards
      expect(next.rows).toBeLessThan(80);
      p = next;
    }
    expect(p.first).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    // and forward again in small steps: the first visible message only moves forward
    let last = 0;
    for (let i = 0; i < 40; i++) {
      await page.mouse.wheel(0, 400);
      await page.waitForTimeout(16);
      const q = await probe(page);
      expect(q.first).toBeGreaterThanOrEqual(last);
      last = q.first;
    }
    expect(last).toBeGreaterThan(1);
  });

  it('streams an answer smoothly with 10,000 messages loaded', async () => {
    await page.evaluate(`(() => {
      window.__frames = [];
      let t = performance.now();
      const f = () => { const n = performance.now(); window.__frames.push(n - t); t = n; if (window.__frames.length < 100000) requestAnimationFrame(f); };
      requestAnimationFrame(f);
    })()`);
    await page.fill('[data-testid=composer-input]', 'Keep going.');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=stop]', { timeout: 30_000 }).catch(() => {});
    await page.waitForSelector('[data-testid=send]', { timeout: 120_000 });
    const frames = ((await page.evaluate('window.__frames')) as number[]).slice(2).sort((a, b) => a - b);
    const p95 = frames[Math.floor(frames.length * 0.95)] ?? 0;
    // A freeze guard with wide margins, not a speed measurement: re-rendering the 10,000 messages per token
    // would stall the page for seconds and draw a handful of frames in the answer's two seconds.
    expect(frames.length).toBeGreaterThan(30);
    expect(p95).toBeLessThan(100);
    const p = await probe(page);
    expect(p.last).toBeGreaterThan(N); // followed the new answer to the bottom
    expect(p.rows).toBeLessThan(60);
  });

  it('jumps to a search hit 9,000 messages back', async () => {
    await page.fill('[data-testid=search-input]', 'quetzalcoatl');
    const hit = await page.waitForSelector('[data-testid=search-hit]');
    await hit.click();
    await page.waitForSelector('[data-testid=message][data-seq="1000"]', { timeout: 30_000 });
    const visible = await page.evaluate(`(() => {
      const el = document.querySelector('[data-testid=message][data-seq="1000"]');
      const v = document.querySelector('[data-testid=virtual-list]').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return r.bottom > v.top && r.top < v.bottom;
    })()`);
    expect(visible).toBe(true);
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
