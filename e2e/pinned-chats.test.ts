/**
 * Pinned chats in headless Chromium against the real core: pin a chat from the chat list and it goes first, marked;
 * using another chat does not move it from the top; after a restart (a new core on the same database, a new window) it
 * is still pinned and first; unpinned, it goes back to its place by last use.
 * PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/pinned-chats.png.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { builtinModelDir } from '../main/models/builtin-model.js';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { testModelDir } from '../native-models/test-models.js';
import { shot, SHOTS, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-pins-'));
const dbFile = join(dir, 'perpetua.db');
let core: CoreService;
let h: Harness;
let page: Page;

async function start(): Promise<void> {
  core = new CoreService({ dbFile });
  h = await startHarness(core, { width: 1000, height: 640 });
  page = h.page;
  await page.waitForSelector('[data-testid=session-item]');
}

async function stop(): Promise<void> {
  await h?.close();
  await core?.close();
}

/** The chat list's names, top to bottom. */
const names = () => page.$$eval('[data-testid=session-item] .s-name', (els) => els.map((e) => e.textContent?.trim() ?? ''));
const pinnedNames = () => page.$$eval('[data-testid=session-item]:has([data-testid=session-pinned]) .s-name', (els) => els.map((e) => e.textContent?.trim() ?? ''));

beforeAll(async () => {
  const seed = new CoreService({ dbFile });
  const model = await seed.modelsImport({ dir: SHOTS && existsSync(builtinModelDir()) ? builtinModelDir() : testModelDir() });
  const ids = [];
  for (const name of ['Reading notes', 'Trip to Lisbon', 'Recipes', 'Sink experiments']) {
    ids.push((await seed.sessionsCreate({ name, modelId: model.id, policy: model.defaultPolicy! })).id);
  }
  await seed.close();
  // one after another in time (created within one millisecond they would tie, and ties keep the list's order)
  const store = new Store(openDatabase(dbFile));
  ids.forEach((id, i) => store.db.prepare('UPDATE sessions SET updated_at = ? WHERE id = ?').run(Date.now() - 60_000 + i * 1000, Number(id)));
  store.db.close();
  await start();
});

afterAll(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pinned chats', () => {
  it('pins a chat from the list: it goes first, marked, and stays there while other chats are used', async () => {
    expect(await names()).toEqual(['Sink experiments', 'Recipes', 'Trip to Lisbon', 'Reading notes']);
    await page.hover('[data-testid=session-item]:has-text("Reading notes")');
    await page.click('[aria-label="Pin Reading notes to the top"]');
    await expect.poll(names, { timeout: 10_000, interval: 50 }).toEqual(['Reading notes', 'Sink experiments', 'Recipes', 'Trip to Lisbon']);
    expect(await pinnedNames()).toEqual(['Reading notes']);
    // renaming another chat uses it: it moves to the top of the unpinned ones, below the pinned chat
    await page.hover('[data-testid=session-item]:has-text("Trip to Lisbon")');
    await page.click('[aria-label="Rename Trip to Lisbon"]');
    await page.fill('[aria-label="Chat name"]', 'Trip to Porto');
    await page.keyboard.press('Enter');
    await expect.poll(names, { timeout: 10_000, interval: 50 }).toEqual(['Reading notes', 'Trip to Porto', 'Sink experiments', 'Recipes']);
    expect((await core.sessionsList()).map((s) => [s.name, s.pinned ?? false])[0]).toEqual(['Reading notes', true]);
    await page.mouse.move(600, 400);
    await shot(page, 'pinned-chats');
  });

  it('is still pinned and first after a restart; unpinned, it goes back to its place by last use', async () => {
    await stop();
    await start();
    expect(await names()).toEqual(['Reading notes', 'Trip to Porto', 'Sink experiments', 'Recipes']);
    expect(await pinnedNames()).toEqual(['Reading notes']);
    await page.hover('[data-testid=session-item]:has-text("Reading notes")');
    await page.click('[aria-label="Unpin Reading notes"]');
    await expect.poll(names, { timeout: 10_000, interval: 50 }).toEqual(['Trip to Porto', 'Sink experiments', 'Recipes', 'Reading notes']);
    expect(await pinnedNames()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
    expect(await h.cspViolations()).toEqual([]);
  });
});
