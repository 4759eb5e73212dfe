/**
 * Typing Chinese through an input method, in headless Chromium against the real core: while a composition is open
 * (compositionstart … compositionend), Enter picks a candidate and must not send; once it ends, Enter sends the
 * committed text. The composition is Chromium's own (DevTools' Input.imeSetComposition / Input.insertText, what an
 * IME does to the page), so the keydown carries isComposing as a real one does; the final Enter is a plain key press.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession, Page } from 'playwright-core';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { startHarness, type Harness } from './harness.js';

/** The core's API, counting what the page asks it to send. */
function countingSends(api: PerpetuaApi, sent: string[]): PerpetuaApi {
  return new Proxy(api, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (key !== 'chatSend' || typeof value !== 'function') return value;
      return (params: { text: string }, ...rest: unknown[]) => {
        sent.push(params.text);
        return (value as (...a: unknown[]) => unknown).call(target, params, ...rest);
      };
    },
  });
}

describe('input method composition (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  let cdp: CDPSession;
  const sent: string[] = [];

  beforeAll(async () => {
    core = await startCoreUnderTest();
    const model = await core.api.modelsImport({ dir: core.modelDir });
    await core.api.sessionsCreate({ name: '输入法', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
    h = await startHarness(countingSends(core.api, sent), { width: 1280, height: 800 }, { locale: 'zh-CN' });
    page = h.page;
    cdp = await page.context().newCDPSession(page);
    await page.click('[data-testid=session-item]');
    await page.waitForSelector('[data-testid=composer-input]:not([disabled])');
    // what the composer sees: composition events and whether each Enter came while composing
    await page.evaluate(`(() => {
      window.__ime = [];
      const el = document.querySelector('[data-testid=composer-input]');
      el.addEventListener('compositionstart', () => window.__ime.push('start'));
      el.addEventListener('compositionend', (e) => window.__ime.push('end:' + e.data));
      el.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__ime.push('enter:' + e.isComposing); });
    })()`);
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  const events = () => page.evaluate('window.__ime') as Promise<string[]>;
  /** Enter as an IME passes it on while composing: the key goes down and up, but its character is the IME's. */
  async function enterInComposition(): Promise<void> {
    await cdp.send('Input.dispatchKeyEvent', { type: 'rawKeyDown', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13 });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13 });
  }

  it('sends nothing on Enter while composing, and the committed text once composition ends', async () => {
    await page.focus('[data-testid=composer-input]');
    // pinyin being typed: the IME shows "zhu yi li" in the field, underlined, not yet text
    await cdp.send('Input.imeSetComposition', { text: 'zhuyili', selectionStart: 7, selectionEnd: 7 });
    await cdp.send('Input.imeSetComposition', { text: '注意力', selectionStart: 3, selectionEnd: 3 });
    await enterInComposition(); // picks the candidate in a real IME
    await page.waitForFunction(() => (window as unknown as { __ime: string[] }).__ime.includes('enter:true'));
    expect(await events()).toEqual(['start', 'enter:true']);
    // the IME commits the text: compositionend
    await cdp.send('Input.insertText', { text: '注意力' });
    await page.waitForFunction(() => (window as unknown as { __ime: string[] }).__ime.some((e) => e.startsWith('end:')));
    await cdp.send('Input.imeSetComposition', { text: 'huiju', selectionStart: 5, selectionEnd: 5 });
    await enterInComposition();
    await cdp.send('Input.insertText', { text: '汇聚' });
    await page.waitForFunction(() => (window as unknown as { __ime: string[] }).__ime.filter((e) => e.startsWith('end:')).length === 2);
    expect(await events()).toEqual(['start', 'enter:true', 'end:注意力', 'start', 'enter:true', 'end:汇聚']);
    // two Enters inside compositions: nothing went to the core, the text is all in the field
    expect(sent).toEqual([]);
    expect(await page.inputValue('[data-testid=composer-input]')).toBe('注意力汇聚');
    expect(await page.$$('[data-testid=message]')).toHaveLength(0);

    // composition over: Enter sends what was committed
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=user]');
    expect(await page.textContent('[data-testid=message][data-role=user] [data-testid=message-text]')).toBe('注意力汇聚');
    expect(sent).toEqual(['注意力汇聚']);
    await page.waitForSelector('[data-testid=message][data-role=assistant][data-state=done]');
    expect(await page.inputValue('[data-testid=composer-input]')).toBe('');
  });
});
