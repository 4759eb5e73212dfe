/**
 * The chat the engine froze in is not opened again by itself, in Chromium against the real core: neither when the
 * whole app starts again (the engine's mark in the database) nor when the shell restarts a frozen core (the chat named
 * in the restart). A sentence names the chat and its model; the user opens it by hand, and then it opens as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PerpetuaEventListener } from '../main/api/perpetua-api.js';
import { CoreService } from '../main/core/core-service.js';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { testModelDir } from '../native-models/test-models.js';
import { shot, startHarness, waitReady, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-frozen-'));
const dbFile = join(dir, 'perpetua.db');
const sink = { name: 'sink', sink: 4, window: 60, pinSystem: false } as const;

let core: CoreService;
let h: Harness;
let page: Page;
let ids: { notes: string; other: string };
let modelName: string;
/** the chats the page asked the core to open, in order */
const opened: string[] = [];
/** events the shell would send (coreRestarted), to every page connected */
const shellListeners = new Set<PerpetuaEventListener>();

const title = (name: string) => page.waitForSelector(`[data-testid=session-title]:has-text("${name}")`);

beforeAll(async () => {
  // yesterday: two chats; the engine froze while opening "Notes" and the app was killed (its mark is left)
  const before = new CoreService({ dbFile, maxAnswerTokens: 8 });
  const model = await before.modelsImport({ dir: testModelDir() });
  modelName = model.name;
  const other = await before.sessionsCreate({ name: 'Other', modelId: model.id, policy: sink });
  const notes = await before.sessionsCreate({ name: 'Notes', modelId: model.id, policy: sink });
  await before.close();
  ids = { notes: notes.id, other: other.id };
  const store = new Store(openDatabase(dbFile));
  store.chatWork.begin(Number(notes.id), `sessions.open in the chat "Notes" with the model ${modelName}`);
  store.db.close(); // killed: the work never ended

  // today: the app's engine starts on the same database
  core = new CoreService({ dbFile, maxAnswerTokens: 8, appEngine: true });
  const api = new Proxy(core, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      // as the core process serves a window (message-port-host.ts): the open is marked while it runs
      if (key === 'sessionsOpen')
        return async (p: { id: string; limit?: number }) => {
          opened.push(p.id);
          const work = target.beginRequest('sessions.open', p);
          try {
            return await target.sessionsOpen(p);
          } finally {
            work.done?.();
          }
        };
      if (key === 'subscribe')
        return (listener: PerpetuaEventListener) => {
          shellListeners.add(listener);
          const off = target.subscribe(listener);
          return () => {
            shellListeners.delete(listener);
            off();
          };
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  h = await startHarness(api);
  page = h.page;
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the chat the engine froze in', () => {
  it('is not opened at the next start of the app; a sentence names it and its model', async () => {
    await page.waitForSelector('[data-testid=not-reopened]');
    const sentence = await page.textContent('[data-testid=not-reopened]');
    expect(sentence).toContain('“Notes”');
    expect(sentence).toContain(modelName);
    expect(opened).toEqual([]); // "Notes" is the newest chat, the one the app would have opened
    expect(await page.$('[data-testid=session-title]')).toBeNull();
    await shot(page, 'chat-not-reopened');
    expect(await h.cspViolations()).toEqual([]);
  });

  it('opens by hand, and once it opened fine it opens by itself again', async () => {
    await page.click('[data-testid=session-item]:has-text("Notes")');
    await title('Notes');
    await page.waitForSelector('[data-testid=not-reopened]', { state: 'detached' });
    expect(await core.sessionsInterrupted()).toEqual([]);
    await page.reload();
    await waitReady(page);
    await title('Notes');
    expect(await page.$('[data-testid=not-reopened]')).toBeNull();
  });

  it('is not reopened after the shell restarted the frozen core, while another open chat is', async () => {
    const restarted = (frozenChatId?: string) => {
      const reason = `the engine stopped answering for 31 s during sessions.open in the chat "Notes" with the model ${modelName} and was restarted`;
      for (const l of shellListeners) l({ event: 'coreRestarted', payload: { reason, ...(frozenChatId ? { frozenChatId } : {}) } });
    };
    // the engine froze in "Notes", the chat on screen
    const before = opened.length;
    restarted(ids.notes);
    await page.waitForSelector('[data-testid=core-restarted]');
    await page.waitForSelector('[data-testid=not-reopened]');
    await page.waitForSelector('[data-testid=session-title]', { state: 'detached' });
    expect(await page.textContent('[data-testid=not-reopened]')).toContain('“Notes”');
    expect(opened.slice(before)).toEqual([]);
    // a restart for something else reopens the chat on screen
    await page.click('[data-testid=session-item]:has-text("Other")');
    await title('Other');
    restarted();
    await expect.poll(() => opened.filter((id) => id === ids.other).length, { timeout: 30_000 }).toBe(2);
    await title('Other');
    expect(h.pageErrors).toEqual([]);
  });
});
