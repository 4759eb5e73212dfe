/**
 * The sink inspector in headless Chromium against the real core: after a chat turn, "Sinks" runs the session's
 * model with its attention probabilities exposed and shows a layer × head heatmap of the attention given to the
 * first tokens; a chat on a fused-attention graph says why it cannot be shown. PERPETUA_SCREENSHOTS=1 refreshes
 * docs/screenshots/sink-inspector.png.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { testModelDir } from '../native-models/test-models.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

describe('sink inspector (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let layers = 0;
  let heads = 0;

  beforeAll(async () => {
    core = await startCoreUnderTest({ maxAnswerTokens: 48 });
    const model = await core.api.modelsImport({ dir: core.modelDir });
    const fused = await core.api.modelsImport({ dir: testModelDir({ graph: { layout: 'fused' } }) });
    const policy = { name: 'sink', sink: 4, window: 252, pinSystem: false } as const;
    await core.api.sessionsCreate({ name: 'Fused', modelId: fused.id, policy });
    await core.api.sessionsCreate({ name: 'Sinks', modelId: model.id, policy });
    h = await startHarness(core.api);
    page = h.page;
    await page.waitForSelector('[data-testid=session-title]:has-text("Sinks")');
    // model folders keep config.json at the top or beside the checkpoint in hf/
    const top = join(core.modelDir, 'config.json');
    const config = JSON.parse(readFileSync(existsSync(top) ? top : join(core.modelDir, 'hf', 'config.json'), 'utf8'));
    layers = config.num_hidden_layers;
    heads = config.num_attention_heads;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function chatOnce(): Promise<void> {
    await page.fill('[data-testid=composer-input]', 'Once upon a time there was a little girl who loved the sea.');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming])', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  }

  it('shows a layer × head heatmap of the attention to the first tokens', async () => {
    await chatOnce();
    await page.click('[data-testid=open-sinks]');
    await page.waitForSelector('[data-testid=sink-heatmap]', { timeout: 60_000 });
    const cells = await page.$$eval('[data-testid=sink-cell]', (els) => els.map((e) => Number(e.textContent!.replace('%', ''))));
    expect(cells).toHaveLength(layers * heads);
    for (const v of cells) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(100);
    expect(await page.textContent('[data-testid=sink-summary]')).toContain(`${layers} layers × ${heads} heads`);
    await shot(page, 'sink-inspector');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=sink-inspector]', { state: 'detached' });
  });

  it('says why a fused-attention graph cannot show it', async () => {
    await page.click('[data-testid=session-item]:has-text("Fused")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Fused")');
    await chatOnce();
    await page.click('[data-testid=open-sinks]');
    const why = await page.waitForSelector('[data-testid=sink-unavailable]', { timeout: 60_000 });
    expect(await why.textContent()).toMatch(/fused GroupQueryAttention operator, which never holds the attention probabilities/);
    await page.keyboard.press('Escape');
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
