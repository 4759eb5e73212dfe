/**
 * The interface in English, 简体中文 and 繁體中文, in headless Chromium against the real core: the language follows the
 * browser's at first start, the sidebar switches it (and it stays switched after a reload), <html lang> follows, and
 * Chinese text is found inside sentences with the match highlighted, and warned about by its real token count.
 * PERPETUA_SCREENSHOTS=1 writes docs/screenshots/{chat,search,settings,models}-<locale>.png.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TextTokenizer } from '../main/engine/text-tokenizer.js';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, waitReady, type Harness } from './harness.js';

const ZH = '注意力汇聚是流式语言模型的关键，我们今天讨论滑动窗口';
const ANSWER = '滑动窗口只保留最近的词元；注意力汇聚再加上最前面的几个词元，长对话就不会崩溃。The Germans call it a Fenster.';
/** About 2,000 characters of Chinese: a quarter of its characters is far under the cache, its real tokens are not. */
const LONG_ZH = '春天来了，河边的柳树发出了新芽，孩子们在草地上放风筝。他打开窗户，看见远处的山在雾中若隐若现。'.repeat(42);

const UI: Record<string, { newChat: string; lang: string }> = {
  en: { newChat: 'New chat', lang: 'en' },
  'zh-CN': { newChat: '新对话', lang: 'zh-CN' },
  'zh-TW': { newChat: '新對話', lang: 'zh-TW' },
};

async function expectLocale(page: Page, locale: string): Promise<void> {
  await page.waitForFunction((l) => document.documentElement.lang === l, UI[locale]!.lang);
  expect((await page.textContent('[data-testid=new-session] .label'))?.trim()).toBe(UI[locale]!.newChat);
  expect(await page.inputValue('[data-testid=language]')).toBe(locale);
}

describe('interface languages (web host + real core)', () => {
  let core: CoreUnderTest;
  let capacity: number;
  const open: Harness[] = [];

  beforeAll(async () => {
    core = await startCoreUnderTest();
    const model = await core.api.modelsImport({ dir: core.modelDir });
    const session = await core.api.sessionsCreate({ name: '流式对话', modelId: model.id, policy: { name: 'sink', sink: 4, window: 508, pinSystem: false } });
    capacity = (await core.api.sessionsOpen({ id: session.id })).stats.cacheCapacity;
    const store = new Store(openDatabase(core.dbFile));
    store.appendMessage(Number(session.id), { role: 'user', text: ZH });
    store.appendMessage(Number(session.id), { role: 'assistant', text: ANSWER });
    store.db.close();
  });

  afterAll(async () => {
    for (const h of open) await h.close();
    await core?.close();
  });

  async function harness(locale: string): Promise<Harness> {
    const h = await startHarness(core.api, { width: 1280, height: 800 }, { locale });
    open.push(h);
    return h;
  }

  it('starts in the browser language: zh-TW, zh-CN, and English for a language it does not have', async () => {
    for (const [browser, expected] of [['zh-TW', 'zh-TW'], ['zh-CN', 'zh-CN'], ['fr-FR', 'en']] as const) {
      const h = await harness(browser);
      await expectLocale(h.page, expected);
      expect(h.pageErrors).toEqual([]);
    }
  });

  it('switches in the sidebar, keeps the choice across a reload, and sets <html lang>', async () => {
    const { page } = await harness('en-US');
    await expectLocale(page, 'en');
    await page.selectOption('[data-testid=language]', 'zh-TW');
    await expectLocale(page, 'zh-TW');
    // a dialog opened after the switch speaks it too, plurals and numbers included
    await page.fill('[data-testid=search-input]', '窗口');
    await page.waitForSelector('[data-testid=search-hit]');
    expect(await page.textContent('.section-title')).toContain('筆結果');
    await page.reload();
    await waitReady(page);
    await expectLocale(page, 'zh-TW');
    await page.selectOption('[data-testid=language]', 'zh-CN');
    await expectLocale(page, 'zh-CN');
    await page.selectOption('[data-testid=language]', 'en');
    await expectLocale(page, 'en');
    // the choice is the app's, kept in its database (e2e/app-settings.test.ts): unset, the windows opened by the
    // tests below start in their browser's language again
    await expect.poll(async () => (await core.api.settingsGet()).locale, { timeout: 10_000, interval: 50 }).toBe('en');
    await core.api.settingsSet({ locale: null });
  });

  it('finds a word inside a Chinese sentence and highlights it', async () => {
    const { page } = await harness('zh-CN');
    for (const q of ['滑动窗口', '窗口', '流式', '关键', '窗', 'erman']) {
      await page.fill('[data-testid=search-input]', q);
      await page.waitForFunction(
        (q) => [...document.querySelectorAll('[data-testid=search-hit] mark')].some((m) => m.textContent === q),
        q,
      );
    }
    await page.fill('[data-testid=search-input]', '窗口');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=search-hit]').length === 2);
    const marks = await page.$$eval('[data-testid=search-hit] mark', (els) => els.map((e) => e.textContent));
    expect(marks).toEqual(['窗口', '窗口']);
  });

  it('warns before sending a Chinese text longer than the cache, counting its tokens per script', async () => {
    const { page } = await harness('zh-CN');
    await page.click(`[data-testid=session-item]`);
    await page.waitForSelector('[data-testid=message]');
    expect(LONG_ZH.length / 4).toBeLessThan(capacity); // the old estimate would not have warned
    await page.fill('[data-testid=composer-input]', LONG_ZH);
    await page.keyboard.press('Enter');
    const warning = await page.waitForSelector('[data-testid=paste-warning]');
    const estimated = Number((await warning.textContent())!.match(/约有 ([\d,]+) 个词元/)![1]!.replace(/,/g, ''));
    const tok = tokenizerOf(core.modelDir);
    const real = tok.encode(LONG_ZH).length;
    expect(real).toBeGreaterThan(capacity);
    expect(Math.abs(estimated - real) / real).toBeLessThan(0.2);
    await page.click('[data-testid=paste-warning-cancel]');
  });

  it.each(['en', 'zh-CN', 'zh-TW'])('shows chat, search, settings and models in %s', async (locale) => {
    const { page } = await harness(locale);
    await expectLocale(page, locale);
    await page.click('[data-testid=session-item]');
    await page.waitForSelector('[data-testid=message][data-role=assistant]');
    // every label comes from the locale's file: none of the English words are left in the Chinese chat view
    if (locale !== 'en') {
      const text = await page.textContent('body');
      for (const word of ['Send', 'Search chats', 'Cache', 'Speed', 'Models']) expect(text).not.toContain(word);
    }
    await shot(page, `chat-${locale}`);
    await page.fill('[data-testid=search-input]', '窗口');
    await page.waitForSelector('[data-testid=search-hit] mark');
    await shot(page, `search-${locale}`);
    await page.fill('[data-testid=search-input]', '');
    await page.click('[data-testid=open-chat-settings]');
    await page.waitForSelector('[data-testid=chat-settings]');
    await page.fill('[data-testid=system-prompt]', '你是一位耐心的老师，用简短的句子回答。');
    await page.waitForSelector('[data-testid=system-tokens]');
    await shot(page, `settings-${locale}`);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=chat-settings]', { state: 'hidden' });
    await page.click('[data-testid=open-models]');
    await page.waitForSelector('[data-testid=model-item]');
    await shot(page, `models-${locale}`);
  });
});

function tokenizerOf(dir: string): TextTokenizer {
  const json = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  return new TextTokenizer(json('tokenizer.json'), json('tokenizer_config.json'));
}
