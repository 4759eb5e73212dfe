/**
 * An A/B comparison outlives the app: run one in the browser against the real core, quit (core and page), start again
 * on the same database, and find both answers, their metrics and the Continue buttons in the chat's A/B view; continuing
 * from B then works although the forked caches died with the first core (the cache is rebuilt for B's answer).
 * PERPETUA_SCREENSHOTS=1 also refreshes docs/screenshots/ab-after-restart.png.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../main/api/packets.js';
import type { AbHistoryResult, PolicyConfig } from '../main/api/schemas.js';
import { CoreService } from '../main/core/core-service.js';
import { readChannel } from '../main/core/read-channel.js';
import { shot, startHarness, type Harness } from './harness.js';
import { startCoreUnderTest } from './core-under-test.js';

const A: PolicyConfig = { name: 'sink', sink: 4, window: 32, pinSystem: false };
const B: PolicyConfig = { name: 'window', sink: 0, window: 24, pinSystem: false };
const PROMPT = 'Then the road turned toward the sea, and';

describe('A/B comparison after a restart (web host + real core)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-ab-restart-'));
  const dbFile = join(dir, 'perpetua.db');
  let modelDir = '';
  let core: CoreService | null = null;
  let h: Harness | null = null;
  let sessionId = '';
  let stored: AbHistoryResult['runs'][number];

  /** The app as a user starts it: a core on the same database, and a fresh page. */
  async function startApp(): Promise<Page> {
    core = new CoreService({ dbFile, maxAnswerTokens: 12 });
    h = await startHarness(core, { width: 1360, height: 900 });
    return h.page;
  }

  async function quitApp(): Promise<void> {
    await h?.close();
    await core?.close();
    h = null;
    core = null;
  }

  beforeAll(async () => {
    // only for the model folder it picks (the built-in model when refreshing screenshots)
    const probe = await startCoreUnderTest();
    modelDir = probe.modelDir;
    await probe.close();
  });

  afterAll(async () => {
    await quitApp();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a comparison, then quits the app', async () => {
    const page = await startApp();
    const model = await core!.modelsImport({ dir: modelDir });
    const session = await core!.sessionsCreate({ name: 'Road trip', modelId: model.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
    sessionId = session.id;
    const first = await readChannel<ChatPacket>((signal) => core!.chatSend({ sessionId, text: 'We packed the car for the long trip north.' }, signal)).closed;
    expect(first.type).toBe('done');
    await page.reload();
    await page.waitForSelector('[data-testid=session-title]:has-text("Road trip")');
    await page.click('[data-testid=open-ab]');
    await page.selectOption('[data-testid=ab-a-policy]', A.name);
    await page.fill('[data-testid=ab-a-sink]', String(A.sink));
    await page.fill('[data-testid=ab-a-window]', String(A.window));
    await page.selectOption('[data-testid=ab-b-policy]', B.name);
    await page.fill('[data-testid=ab-b-window]', String(B.window));
    await page.fill('[data-testid=ab-prompt]', PROMPT);
    await page.fill('[data-testid=ab-max-tokens]', '24');
    await page.click('[data-testid=ab-run]');
    await page.waitForSelector('[data-testid=ab-vote]', { timeout: 120_000 });
    [stored] = (await core!.abHistory({ sessionId })).runs;
    expect(stored).toMatchObject({ prompt: PROMPT, vote: null, continuable: true, a: { policy: A }, b: { policy: B } });
    await quitApp();
  });

  it('shows both stored answers, their metrics and Continue after the restart', async () => {
    const page = await startApp();
    await page.waitForSelector('[data-testid=session-title]:has-text("Road trip")');
    await page.click('[data-testid=open-ab]');
    await page.waitForSelector('[data-testid=ab-vote]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid=ab-run-prompt]')).toContain(PROMPT);
    for (const label of ['a', 'b'] as const) {
      expect(await page.textContent(`[data-testid=ab-answer-${label}]`)).toBe(stored[label].answer);
      expect(await page.textContent(`[data-testid=ab-status-${label}]`)).toBe('Done.');
      expect((await page.textContent(`[data-testid=ab-metric-${label}-ppl]`))?.trim()).toMatch(/\d/);
    }
    expect(await page.textContent('[data-testid=ab-column-b]')).toContain('window 24');
    // the form holds that run's policies again
    expect(await page.inputValue('[data-testid=ab-a-window]')).toBe(String(A.window));
    expect(await page.inputValue('[data-testid=ab-b-policy]')).toBe(B.name);
    expect(await page.isEnabled('[data-testid=ab-continue-a]')).toBe(true);
    expect(await page.isEnabled('[data-testid=ab-continue-b]')).toBe(true);
    expect(await page.$('[data-testid=ab-moved-on]')).toBeNull();
    await page.locator('[data-testid=ab-vote]').scrollIntoViewIfNeeded();
    await shot(page, 'ab-after-restart');
  });

  it('continues the chat from B although its forked cache is gone, and the chat goes on', async () => {
    const page = h!.page;
    await page.click('[data-testid=ab-continue-b]');
    const statement = await page.waitForSelector('[data-testid=ab-statement]', { timeout: 60_000 });
    expect(await statement.textContent()).toContain('continues from B: window (last 24 tokens)');
    await page.waitForSelector('[data-testid=stat-policy]:has-text("window 24")');
    const opened = await core!.sessionsOpen({ id: sessionId });
    expect(opened.session.policy).toEqual(B);
    expect(opened.stats.cacheCapacity).toBe(24);
    expect(opened.messages.slice(-2).map((m) => [m.role, m.text])).toEqual([
      ['user', PROMPT],
      ['assistant', stored.b.answer],
    ]);
    expect((await core!.abHistory({ sessionId })).runs[0]).toMatchObject({ vote: 'b', continuable: false });

    await page.click('[data-testid=ab-back-to-chat]');
    await page.waitForFunction(
      (want) => {
        const shown = document.querySelectorAll('[data-testid=message][data-role=assistant] [data-testid=message-text]');
        return shown[shown.length - 1]?.textContent?.trim() === want;
      },
      stored.b.answer.trim(),
      { timeout: 30_000 },
    );
    await page.fill('[data-testid=composer-input]', 'And then?');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 3, undefined, {
      timeout: 90_000,
    });
    expect(h!.pageErrors).toEqual([]);
    expect(await h!.cspViolations()).toEqual([]);
  });

  it('after another restart, shows the comparison with its vote, and that the chat has moved on from it', async () => {
    await quitApp();
    const page = await startApp();
    await page.waitForSelector('[data-testid=session-title]:has-text("Road trip")');
    await page.click('[data-testid=open-ab]');
    await page.waitForSelector('[data-testid=ab-moved-on]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid=ab-answer-b]')).toBe(stored.b.answer);
    expect(await page.getAttribute('[data-testid=ab-vote-b]', 'class')).toContain('chosen');
    expect(await page.isDisabled('[data-testid=ab-continue-a]')).toBe(true);
    expect(await page.isDisabled('[data-testid=ab-continue-b]')).toBe(true);
  });
});
