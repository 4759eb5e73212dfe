/**
 * The app-wide settings page in headless Chromium against the real core: the defaults for new chats (policy, sampling)
 * are stored in the database and the new-chat dialog starts from them, kept inside the chosen model's context; a
 * comma decimal ("0,7") is read as 0.7 and an ambiguous number is refused before saving; the language is kept in the
 * database (it survives a cleared browser storage); the Snapshots section shows what the chats' KV snapshots take,
 * a smaller budget drops the least recently used chat's at once, and deleting a chat frees its space.
 * PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/app-settings.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { ChatPacket } from '../main/api/packets.js';
import type { ModelInfo } from '../main/api/schemas.js';
import { readChannel } from '../main/core/read-channel.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, waitReady, type Harness } from './harness.js';

describe('app settings page (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let model: ModelInfo;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    core = await startCoreUnderTest();
    model = await core.api.modelsImport({ dir: core.modelDir });
    // two chats with an answer each, so both have snapshots: "Older" used first
    for (const name of ['Older', 'Newer']) {
      ids[name] = (await core.api.sessionsCreate({ name, modelId: model.id, policy: model.defaultPolicy! })).id;
      await readChannel<ChatPacket>((signal) => core.api.chatSend({ sessionId: ids[name], text: `The ${name.toLowerCase()} chat begins.` }, signal)).closed;
    }
    h = await startHarness(core.api, { width: 1100, height: 900 });
    page = h.page;
    await page.waitForSelector('[data-testid=session-item]:has-text("Newer")');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function openSettings(): Promise<void> {
    await page.click('[data-testid=open-app-settings]');
    await page.waitForSelector('[data-testid=app-settings][open] [data-testid=snapshot-usage]:not(:has-text("Reading"))');
  }

  async function closeSettings(): Promise<void> {
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=app-settings][open]', { state: 'detached' });
  }

  it('stores the defaults for new chats (0,7 read as 0.7); an ambiguous number is refused before saving', async () => {
    await openSettings();
    expect(await page.inputValue('[data-testid=defaults-policy]')).toBe(''); // the policy that fits each model
    await page.selectOption('[data-testid=defaults-policy]', 'window');
    // wider than the model's context: a new chat gets the window cut to it
    await page.fill('[data-testid=defaults-window]', String(model.maxPositions! + 1000));
    await page.fill('[data-testid=defaults-temperature]', '1.000,5');
    await page.waitForSelector('[data-testid=defaults-status]:has-text("type a number")');
    expect(await page.getAttribute('[data-testid=defaults-temperature]', 'aria-invalid')).toBe('true');
    expect(await page.isDisabled('[data-testid=defaults-save]')).toBe(true);
    await page.fill('[data-testid=defaults-temperature]', '0,7');
    await page.fill('[data-testid=defaults-topK]', '40');
    await page.click('[data-testid=defaults-save]');
    await page.waitForSelector('[data-testid=defaults-status]:has-text("Saved")');
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('[data-testid=defaults-temperature]')?.value === '0.7');
    expect(await core.api.settingsGet()).toMatchObject({
      policy: { name: 'window', window: model.maxPositions! + 1000, pinSystem: false },
      generation: { temperature: 0.7, topK: 40 },
    });
    await shot(page, 'app-settings');
    await closeSettings();
  });

  it('starts the new-chat dialog from those defaults, inside the chosen model’s context', async () => {
    await page.click('[data-testid=new-session]');
    await page.waitForSelector('[data-testid=new-session-dialog][open] [data-testid=new-session-window]');
    await page.waitForFunction(() => document.querySelector<HTMLSelectElement>('[data-testid=new-session-policy]')?.value === 'window');
    expect(Number(await page.inputValue('[data-testid=new-session-window]'))).toBe(model.maxPositions);
    await page.fill('[data-testid=new-session-name]', 'Defaults');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Defaults")');
    const created = (await core.api.sessionsList()).find((s) => s.name === 'Defaults')!;
    expect(created.policy).toMatchObject({ name: 'window', window: model.maxPositions });
    expect((await core.api.sessionsSettings({ id: created.id })).generation).toEqual({ temperature: 0.7, topK: 40 });
    ids.Defaults = created.id;
  });

  it('keeps the interface language in the database: it survives cleared browser storage; "System" drops the choice', async () => {
    await openSettings();
    await page.selectOption('[data-testid=defaults-language]', 'zh-CN');
    await page.waitForSelector('[data-testid=open-app-settings]:has-text("设置")');
    await expect.poll(async () => (await core.api.settingsGet()).locale, { timeout: 10_000, interval: 50 }).toBe('zh-CN');
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await waitReady(page);
    await page.waitForSelector('[data-testid=open-app-settings]:has-text("设置")');
    // back to the system's language (the browser's here): no choice is stored, none survives a reload
    await openSettings();
    expect(await page.inputValue('[data-testid=defaults-language]')).toBe('zh-CN');
    await page.selectOption('[data-testid=defaults-language]', '');
    await page.waitForSelector('[data-testid=open-app-settings]:has-text("Settings")');
    await expect.poll(async () => (await core.api.settingsGet()).locale, { timeout: 10_000, interval: 50 }).toBe(null);
    await page.reload();
    await waitReady(page);
    await page.waitForSelector('[data-testid=open-app-settings]:has-text("Settings")');
  });

  it('shows what snapshots take; a smaller budget (typed with a comma) drops the least recently used chat’s; a deleted chat frees its space', async () => {
    const before = await core.api.snapshotsUsage();
    expect(before.chats).toBe(2);
    await openSettings();
    const usage = () => page.textContent('[data-testid=snapshot-usage]');
    expect(await usage()).toMatch(/^\s*Snapshots take \d+(\.\d)? (KB|MB) of 4 GB \(2 chats\)\.\s*$/);
    // a budget below both chats' snapshots, above the newer one's: the older chat's go
    const room = before.usedBytes - 1;
    await page.fill('[data-testid=snapshot-budget]', String(room / 2 ** 20).replace('.', ','));
    await page.click('[data-testid=snapshot-budget-save]');
    await page.waitForSelector('[data-testid=snapshot-usage]:has-text("(1 chat)")');
    const after = await core.api.snapshotsUsage();
    expect(after.chats).toBe(1);
    expect(after.usedBytes).toBeLessThanOrEqual(after.budgetBytes);
    expect(Math.abs(after.budgetBytes - room)).toBeLessThanOrEqual(1); // the MB typed, back to bytes
    await closeSettings();

    // the older chat lost only its snapshot: it opens, its transcript re-read
    await page.click('[data-testid=session-item]:has-text("Older")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Older")');
    await page.waitForSelector('[data-testid=message][data-role=assistant]');

    // deleting the chat that still has snapshots frees their space; the page shows it when opened again
    await page.hover('[data-testid=session-item]:has-text("Newer")');
    await page.click('[aria-label="Delete Newer"]');
    await expect.poll(async () => (await core.api.snapshotsUsage()).usedBytes, { timeout: 30_000, interval: 100 }).toBe(0);
    await openSettings();
    expect(await usage()).toMatch(/Snapshots take 0 B of .+ \(0 chats\)\./);
    await closeSettings();
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
