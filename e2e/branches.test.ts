/**
 * Branches in headless Chromium against the real core: edit a user message in place (Esc cancels, Enter sends a new
 * version), regenerate an earlier answer, go between versions with ‹ ›, reload and find the branch shown kept, and open
 * a search hit that lies on another branch. PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/branches.png and
 * branches-edit.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, waitReady, type Harness } from './harness.js';

const UNIQUE = 'quokkaland';
const FIRST = 'Once upon a time, a fox';
const SECOND = `The fox went to ${UNIQUE}`;
const EDITED = 'Once upon a time, a little owl';

describe('edit, regenerate and branches (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    core = await startCoreUnderTest({ maxAnswerTokens: 16 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    await core.api.sessionsCreate({ name: 'Branches', modelId: model.id, policy: { name: 'sink', sink: 4, window: 256, pinSystem: false } });
    h = await startHarness(core.api);
    page = h.page;
    await page.waitForSelector('[data-testid=composer-input]');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  const messages = '[data-testid=message]';
  const user = (n: number) => `${messages}[data-role=user] >> nth=${n}`;
  const texts = () => page.$$eval(`${messages} [data-testid=message-text]`, (els) => els.map((e) => e.textContent ?? ''));
  const labels = () => page.$$eval(`${messages} [data-testid=branch-label]`, (els) => els.map((e) => e.textContent));

  async function answered(): Promise<void> {
    await page.waitForSelector(`${messages}[data-role=assistant]:not([data-state=streaming]) >> nth=-1`, { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  }

  async function send(text: string): Promise<void> {
    await page.fill('[data-testid=composer-input]', text);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${text}")`);
    await answered();
  }

  it('edits a user message in place: Esc cancels, Enter sends a new version and its answer', async () => {
    await send(FIRST);
    await send(SECOND);
    expect(await page.locator(messages).count()).toBe(4);

    await page.hover(user(0));
    await page.click(`${user(0)} >> [data-testid=edit]`);
    await page.fill('[data-testid=edit-input]', 'not this');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=edit-input]', { state: 'detached' });
    expect((await texts())[0]).toBe(FIRST);

    await page.hover(user(0));
    await page.click(`${user(0)} >> [data-testid=edit]`);
    expect(await page.inputValue('[data-testid=edit-input]')).toBe(FIRST);
    await page.fill('[data-testid=edit-input]', EDITED);
    await shot(page, 'branches-edit');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=edit-input]', { state: 'detached' });
    await answered();
    // the new version and its answer replace the old turn and what followed it
    expect(await page.locator(messages).count()).toBe(2);
    expect((await texts())[0]).toBe(EDITED);
    expect(await labels()).toEqual(['2/2']);
  });

  it('regenerates an answer as a new version beside the old one', async () => {
    await page.hover(`${messages}[data-role=assistant] >> nth=0`);
    await page.click(`${messages}[data-role=assistant] >> nth=0 >> [data-testid=regenerate]`);
    await page.waitForSelector(`${messages}[data-role=assistant] >> [data-testid=branch-label]:has-text("2/2")`);
    await answered();
    expect(await page.locator(messages).count()).toBe(2);
    expect(await labels()).toEqual(['2/2', '2/2']);
  });

  it('goes between versions with ‹ ›, and the branch shown is kept across a reload', async () => {
    await page.click(`${user(0)} >> [data-testid=branch-prev]`);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${SECOND}")`);
    expect((await texts())[0]).toBe(FIRST);
    expect(await page.locator(messages).count()).toBe(4);
    expect(await labels()).toEqual(['1/2']);

    await page.reload();
    await waitReady(page);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${SECOND}")`);
    expect(await labels()).toEqual(['1/2']);

    await page.click(`${user(0)} >> [data-testid=branch-next]`);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${EDITED}")`);
    expect(await page.locator(messages).count()).toBe(2);
    // the owl branch comes back with its newest answer (the regenerated one)
    expect(await labels()).toEqual(['2/2', '2/2']);
    await page.reload();
    await waitReady(page);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${EDITED}")`);
    expect(await labels()).toEqual(['2/2', '2/2']);
    // the short branch fits the cache: the model sees all it has seen (the other branch's tokens are not counted)
    const count = async (id: string) => Number((await page.textContent(`[data-testid=${id}]`))!.replace(/[^0-9]/g, ''));
    expect(await count('stat-held')).toBe(await count('stat-seen'));
  });

  it('opens a search hit on another branch by showing that branch', async () => {
    expect(await page.locator(`${messages}:has-text("${UNIQUE}")`).count()).toBe(0);
    await page.fill('[data-testid=search-input]', UNIQUE);
    const hit = '[data-testid=search-hit]:has-text("You")';
    await page.waitForSelector(`${hit} >> [data-testid=hit-other-branch]`);
    await page.click(hit);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${UNIQUE}")`);
    expect((await texts())[0]).toBe(FIRST);
    expect(await labels()).toEqual(['1/2']);
    await page.fill('[data-testid=search-input]', '');

    // the other version again, for the picture: an edited turn with its regenerated answer
    await page.click(`${user(0)} >> [data-testid=branch-next]`);
    await page.waitForSelector(`${messages}[data-role=user]:has-text("${EDITED}")`);
    await page.hover(user(0));
    await shot(page, 'branches');
    expect(h.pageErrors).toEqual([]);
    expect(await h.cspViolations()).toEqual([]);
  });
});
