/**
 * A new user's first start, in Chromium against the real core with the built-in model copied into the models folder
 * as the desktop app does: the welcome says what the built-in model is and is not, the catalog is two clicks away,
 * and the first chat created after start gets a window inside the model's 512-token context.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { BUILTIN_MODEL_NAME, builtinModelDir } from '../main/models/builtin-model.js';
import { defaultPolicyFor } from '../main/policy/policy.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-first-run-'));
let core: CoreService;
let h: Harness;
let page: Page;

beforeAll(async () => {
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  cpSync(builtinModelDir(), join(modelsDir, BUILTIN_MODEL_NAME), { recursive: true });
  core = new CoreService({ dbFile: join(dir, 'perpetua.db'), modelsDir });
  h = await startHarness(core, { width: 1280, height: 800 });
  page = h.page;
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('first run with the built-in model', () => {
  it('welcomes with what the built-in model is (a small greedy story model, not an assistant)', async () => {
    const note = await page.waitForSelector('[data-testid=builtin-note]');
    const text = (await note.textContent()) ?? '';
    expect(text).toContain('2.4M-parameter story model');
    expect(text).toContain('Gutenberg');
    expect(text).toContain('not a chat assistant');
    expect(text).toContain('Regenerate writes the same text again');
    await shot(page, 'welcome-builtin-model');
  });

  it('reaches the catalog in two clicks: the welcome button, then Download', async () => {
    await page.click('[data-testid=builtin-catalog]');
    await page.waitForSelector('[data-testid=model-manager] [data-testid=catalog-item] [data-testid=catalog-download]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=model-manager][open]', { state: 'detached' });
  });

  it('gives the first chat after start a window inside the model context (4 + 508 on 512 tokens)', async () => {
    const fit = defaultPolicyFor(512);
    expect(fit.sink + fit.window).toBe(512);
    await page.click('[data-testid=welcome-start]');
    await page.waitForSelector('[data-testid=new-session-window]');
    // the dialog's defaults are set by effects: wait for the state, not for time
    await page.waitForFunction(
      (w) => (document.querySelector('[data-testid=new-session-window]') as HTMLInputElement | null)?.value === String(w),
      fit.window,
      { timeout: 10_000 },
    ).catch(() => {});
    expect(await page.inputValue('[data-testid=new-session-window]')).toBe(String(fit.window));
    expect(await page.inputValue('[data-testid=new-session-sink]')).toBe(String(fit.sink));
    await page.waitForSelector('[data-testid=new-session-dialog] [data-testid=builtin-note]');
    await shot(page, 'new-chat-builtin-model');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]');
    // the cursor is in the message box: typing goes to the new chat
    await page.waitForFunction(() => (document.activeElement as HTMLElement | null)?.dataset.testid === 'composer-input', undefined, { timeout: 10_000 });
    const [session] = await core.sessionsList();
    expect(session.policy).toMatchObject({ name: 'sink', sink: fit.sink, window: fit.window });
  });
});
