/**
 * A numbered list with long numbers keeps them inside the message card: the list's left padding (where the numbers
 * are drawn) is wider than its widest number.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest();
  const model = await core.api.modelsImport({ dir: core.modelDir });
  const session = await core.api.sessionsCreate({ name: 'Numbers', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  await core.api.sessionsOpen({ id: session.id });
  const store = new Store(openDatabase(core.dbFile));
  store.appendMessage(Number(session.id), { role: 'user', text: 'Count on from 99,998.' });
  store.appendMessage(Number(session.id), { role: 'assistant', text: Array.from({ length: 5 }, (_, i) => `${99_998 + i}. item ${i}`).join('\n') });
  store.db.close();
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=message][data-role=assistant] ol');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('long list numbers', () => {
  it('fit in the list padding, inside the card', async () => {
    const r = (await page.$eval('[data-testid=message][data-role=assistant] ol', (ol) => {
      const li = ol.querySelector('li:last-child')!;
      const style = getComputedStyle(li);
      const ctx = document.createElement('canvas').getContext('2d')!;
      ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      return { padding: parseFloat(getComputedStyle(ol).paddingLeft), number: ctx.measureText('100002. ').width };
    })) as { padding: number; number: number };
    expect(r.padding).toBeGreaterThanOrEqual(r.number);
    await shot(page, 'long-list');
  });
});
