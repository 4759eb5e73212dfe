/**
 * A chat whose model folder was deleted or moved, in Chromium against the real core: it opens (read-only, with a
 * banner) instead of leaving the previous chat on screen as the target of the next message; the banner locates the
 * folder or moves the chat to another model; the model list marks the missing model and new chats are not offered it.
 * And a chat that fails to open leaves no chat as the send target.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { CoreService } from '../main/core/core-service.js';
import { readChannel } from '../main/core/read-channel.js';
import { PerpetuaError } from '../main/shared/errors.js';
import { copyModelAs, testModelDir } from '../native-models/test-models.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-missing-'));
const dbFile = join(dir, 'perpetua.db');
const lostDir = join(dir, 'lost-model');
const movedDir = join(dir, 'moved', 'lost-model');
const sink = { name: 'sink', sink: 4, window: 60, pinSystem: false } as const;
/** sessions.open fails for these ids (a damaged row, a core that went away): what the app does then */
const failOpen = new Set<string>();

let core: CoreService;
let h: Harness;
let page: Page;
let ids: { lost: string; second: string; kept: string; keptModel: string; lostModel: string };

async function answer(api: PerpetuaApi, sessionId: string, text: string) {
  return readChannel<ChatPacket>((signal) => api.chatSend({ sessionId, text }, signal)).closed;
}

const title = (name: string) => page.waitForSelector(`[data-testid=session-title]:has-text("${name}")`);
const openChat = (name: string) => page.click(`[data-testid=session-item]:has-text("${name}")`);

beforeAll(async () => {
  copyModelAs(testModelDir(), lostDir); // another model (its own fingerprint)
  // yesterday: a chat on a model that is then moved away, and a chat on a model that stays
  const before = new CoreService({ dbFile, maxAnswerTokens: 8 });
  const lostModel = await before.modelsImport({ dir: lostDir });
  const keptModel = await before.modelsImport({ dir: testModelDir() });
  const lost = await before.sessionsCreate({ name: 'Lost model chat', modelId: lostModel.id, policy: sink });
  await answer(before, lost.id, 'Once upon a time');
  const second = await before.sessionsCreate({ name: 'Second lost chat', modelId: lostModel.id, policy: sink });
  const kept = await before.sessionsCreate({ name: 'Kept chat', modelId: keptModel.id, policy: sink });
  await before.close();
  cpSync(lostDir, movedDir, { recursive: true });
  rmSync(lostDir, { recursive: true });
  ids = { lost: lost.id, second: second.id, kept: kept.id, keptModel: keptModel.id, lostModel: lostModel.id };

  // today: the app starts on the kept chat (the newest)
  core = new CoreService({ dbFile, maxAnswerTokens: 8 });
  const api = new Proxy(core, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (key === 'sessionsOpen')
        return async (p: { id: string; limit?: number }) => {
          if (failOpen.has(p.id)) throw new PerpetuaError('That chat could not be opened.', { code: 'failed' });
          return target.sessionsOpen(p);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  h = await startHarness(api, { width: 1280, height: 800 }, { pickFolder: async () => movedDir });
  page = h.page;
  await title('Kept chat');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a chat whose model folder is missing', () => {
  it('opens read-only with a banner: the chat shown is the one asked for, and nothing can be sent to another', async () => {
    await openChat('Lost model chat');
    await title('Lost model chat');
    await page.waitForSelector('[data-testid=read-only-banner][data-reason=model_missing]');
    expect(await page.textContent('[data-testid=read-only-banner]')).toContain(lostDir);
    expect(await page.$$eval('[data-testid=message]', (els) => els.length)).toBe(2);
    expect(await page.isDisabled('[data-testid=composer-input]')).toBe(true);
    expect(await page.isDisabled('[data-testid=send]')).toBe(true);
    // the chat shown before got nothing
    expect((await core.sessionsOpen({ id: ids.kept })).messages).toHaveLength(0);
    await shot(page, 'read-only-chat');
    expect(await h.cspViolations()).toEqual([]);
  });

  it('marks the model in the model list and does not offer it for new chats', async () => {
    await page.click('[data-testid=open-models]');
    await page.waitForSelector('[data-testid=model-item][data-missing=true] [data-testid=model-missing]');
    expect(await page.$$eval('[data-testid=model-item][data-missing=true]', (els) => els.length)).toBe(1);
    await shot(page, 'model-missing');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=model-manager][open]', { state: 'detached' });
    await page.click('[data-testid=new-session]');
    await page.waitForSelector('[data-testid=new-session-model]');
    const offered = await page.$$eval('[data-testid=new-session-model] option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(offered).toEqual([ids.keptModel]);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=new-session-dialog][open]', { state: 'detached' });
  });

  it('switches the chat to another model: the transcript is re-read with it and the chat answers again', async () => {
    await page.selectOption('[data-testid=read-only-model]', ids.keptModel);
    await page.click('[data-testid=read-only-switch]');
    await page.waitForSelector('[data-testid=read-only-banner]', { state: 'detached' });
    await page.waitForSelector('[data-testid=composer-input]:not([disabled])');
    await page.fill('[data-testid=composer-input]', 'And then the fox said');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=user]:has-text("And then the fox said")');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 2, undefined, { timeout: 90_000 });
    const reopened = await core.sessionsOpen({ id: ids.lost });
    expect(reopened.session.modelId).toBe(ids.keptModel);
    expect(reopened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect((await core.sessionsOpen({ id: ids.kept })).messages).toHaveLength(0);
  });

  it('locates the folder where the model is now (folder picker): the chat runs on its own model again', async () => {
    await openChat('Second lost chat');
    await title('Second lost chat');
    await page.waitForSelector('[data-testid=read-only-banner]');
    await page.click('[data-testid=read-only-pick]');
    await page.waitForSelector('[data-testid=read-only-banner]', { state: 'detached' });
    await page.waitForSelector('[data-testid=composer-input]:not([disabled])');
    const models = await core.modelsList();
    expect(models.find((m) => m.id === ids.lostModel)).toMatchObject({ path: movedDir });
    expect(models.some((m) => m.missing)).toBe(false);
  });

  it('a chat that cannot be opened leaves no chat to send to (the one before does not stay the target)', async () => {
    await openChat('Kept chat');
    await title('Kept chat');
    failOpen.add(ids.second);
    await openChat('Second lost chat');
    await page.waitForSelector('[data-testid^=toast-]');
    await page.waitForSelector('[data-testid=session-title]', { state: 'detached' });
    expect(await page.$('[data-testid=composer-input]:not([disabled])')).toBeNull();
    failOpen.clear();
    expect((await core.sessionsOpen({ id: ids.kept })).messages).toHaveLength(0);
  });
});
