/**
 * Your own messages show about how many tokens they are (estimated per script with the model's own rates), close
 * to what the model's tokenizer counts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../main/engine/text-tokenizer.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

const TEXT = 'The lighthouse keeper wrote down every ship that passed, every storm and every calm night, for forty years.';

let core: CoreUnderTest;
let h: Harness;
let page: Page;

beforeAll(async () => {
  core = await startCoreUnderTest({ maxAnswerTokens: 4 });
  const model = await core.api.modelsImport({ dir: core.modelDir });
  await core.api.sessionsCreate({ name: 'Counted', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
  h = await startHarness(core.api);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Counted")');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
});

describe('token counts on your own messages', () => {
  it('shows about as many tokens as the tokenizer counts', async () => {
    await page.fill('[data-testid=composer-input]', TEXT);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming])');
    const shown = (await page.textContent('[data-testid=message][data-role=user] [data-testid=message-tokens]')) ?? '';
    expect(shown).toMatch(/^≈ [\d,]+ tokens?$/);
    const json = (f: string) => JSON.parse(readFileSync(join(core.modelDir, f), 'utf8'));
    const real = new TextTokenizer(json('tokenizer.json'), json('tokenizer_config.json')).encode(TEXT).length;
    const estimated = Number(shown.replace(/[^\d]/g, ''));
    expect(Math.abs(estimated - real) / real).toBeLessThan(0.35);
    expect(await page.$('[data-testid=message][data-role=assistant] [data-testid=message-tokens]')).toBeNull();
    await shot(page, 'user-tokens');
  });
});
