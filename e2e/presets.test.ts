/**
 * System-prompt and sampling presets in headless Chromium against the real core: the chat settings save the chat's
 * stored system prompt and sampling as a named preset (kept in the database); a built-in preset applies its sampling
 * and leaves the chat's prompt alone; a preset with a prompt fills the prompt box, applied with the cache rebuilt; the
 * new-chat dialog starts a chat from a preset; a preset is deleted (built-in ones cannot be).
 * PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/presets.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { BUILTIN_PRESETS } from '../main/core/presets.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

const PROMPT = 'You are a lighthouse keeper who speaks in short sentences.';

describe('presets (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    core = await startCoreUnderTest();
    const model = await core.api.modelsImport({ dir: core.modelDir });
    for (const name of ['Tuned', 'Plain']) ids[name] = (await core.api.sessionsCreate({ name, modelId: model.id, policy: model.defaultPolicy! })).id;
    h = await startHarness(core.api, { width: 1000, height: 760 });
    page = h.page;
    await page.waitForSelector('[data-testid=session-item]:has-text("Tuned")');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function openChat(name: string): Promise<void> {
    await page.click(`[data-testid=session-item]:has-text("${name}")`);
    await page.waitForSelector(`[data-testid=session-title]:has-text("${name}")`);
  }

  async function openSettings(): Promise<void> {
    await page.keyboard.press('Control+,');
    await page.waitForSelector('[data-testid=chat-settings][open] [data-testid=preset-select] option[value="builtin:creative"]', { state: 'attached' });
  }

  async function closeSettings(): Promise<void> {
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=chat-settings][open]', { state: 'detached' });
  }

  const field = (key: string, want: string) =>
    page.waitForFunction(([k, w]) => document.querySelector<HTMLInputElement>(`[data-testid=gen-${k}]`)?.value === w, [key, want] as const);

  it('saves the chat’s system prompt and sampling as a named preset', async () => {
    await openChat('Tuned');
    await openSettings();
    await page.fill('[data-testid=gen-temperature]', '0,3');
    await page.fill('[data-testid=gen-seed]', '5');
    await page.click('[data-testid=gen-save]');
    await page.waitForSelector('[data-testid=chat-settings] [role=status]:has-text("Saved")');
    await page.fill('[data-testid=system-prompt]', PROMPT);
    await page.click('[data-testid=system-apply]');
    await page.waitForSelector('[data-testid=system-statement]', { timeout: 60_000 });
    await page.fill('[data-testid=preset-name]', 'Lighthouse');
    await page.click('[data-testid=preset-save]');
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('[data-testid=preset-name]')?.value === '');
    const saved = (await core.api.presetsList()).find((p) => p.name === 'Lighthouse');
    expect(saved).toMatchObject({ systemPrompt: PROMPT, generation: { temperature: 0.3, seed: 5 } });
    expect(await page.inputValue('[data-testid=preset-select]')).toBe(saved!.id);
  });

  it('applies a built-in preset’s sampling; the chat keeps its own system prompt', async () => {
    const creative = BUILTIN_PRESETS.find((p) => p.builtin === 'creative')!;
    await page.selectOption('[data-testid=preset-select]', creative.id);
    expect(await page.textContent('[data-testid=preset-summary]')).toContain('the chat keeps its own system prompt');
    expect(await page.isDisabled('[data-testid=preset-delete]')).toBe(true); // built-in
    await page.click('[data-testid=preset-apply]');
    await field('temperature', String(creative.generation.temperature));
    expect(await core.api.sessionsSettings({ id: ids.Tuned })).toMatchObject({ generation: creative.generation, systemPrompt: PROMPT });
    expect(await page.inputValue('[data-testid=gen-seed]')).toBe(''); // the preset sets none: the model's
    await shot(page, 'presets');
    await closeSettings();
  });

  it('applies a preset with a prompt to another chat: its sampling at once, its prompt with the cache rebuilt', async () => {
    await openChat('Plain');
    await openSettings();
    const lighthouse = (await core.api.presetsList()).find((p) => p.name === 'Lighthouse')!;
    await page.selectOption('[data-testid=preset-select]', lighthouse.id);
    await page.click('[data-testid=preset-apply]');
    await field('temperature', '0.3');
    await page.waitForFunction((want) => document.querySelector<HTMLTextAreaElement>('[data-testid=system-prompt]')?.value === want, PROMPT);
    await page.waitForSelector('[data-testid=system-note]'); // what applying it does, said first
    await page.click('[data-testid=system-apply]');
    await page.waitForSelector('[data-testid=system-statement]', { timeout: 60_000 });
    expect(await core.api.sessionsSettings({ id: ids.Plain })).toMatchObject({ generation: { temperature: 0.3, seed: 5 }, systemPrompt: PROMPT });
    await closeSettings();
  });

  it('starts a new chat from a preset picked in the new-chat dialog', async () => {
    await page.click('[data-testid=new-session]');
    await page.waitForSelector('[data-testid=new-session-dialog][open] [data-testid=new-session-preset]');
    const lighthouse = (await core.api.presetsList()).find((p) => p.name === 'Lighthouse')!;
    await page.selectOption('[data-testid=new-session-preset]', lighthouse.id);
    expect(await page.inputValue('[data-testid=new-session-system]')).toBe(PROMPT);
    await page.fill('[data-testid=new-session-name]', 'From preset');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("From preset")');
    const created = (await core.api.sessionsList()).find((s) => s.name === 'From preset')!;
    expect(await core.api.sessionsSettings({ id: created.id })).toMatchObject({ generation: { temperature: 0.3, seed: 5 }, systemPrompt: PROMPT });
  });

  it('deletes a preset', async () => {
    await openSettings();
    const lighthouse = (await core.api.presetsList()).find((p) => p.name === 'Lighthouse')!;
    await page.selectOption('[data-testid=preset-select]', lighthouse.id);
    await page.click('[data-testid=preset-delete]');
    await page.waitForSelector(`[data-testid=preset-select] option[value="${lighthouse.id}"]`, { state: 'detached' });
    expect((await core.api.presetsList()).map((p) => p.id)).toEqual(BUILTIN_PRESETS.map((p) => p.id));
    await closeSettings();
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
