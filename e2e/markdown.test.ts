/**
 * Markdown answers in headless Chromium: the renderer's own Markdown module (markdown-it + highlight.js + DOMPurify)
 * fed every prefix of a streaming answer never shows half-parsed fences; and in the app against the real core, a
 * stored answer renders headings, lists and highlighted code with a working Copy button, while `<script>` and
 * `<img onerror>` in a message stay text. PERPETUA_SCREENSHOTS=1 refreshes docs/screenshots/markdown.png.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { launchBrowser } from './browser.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

const XSS = 'Careful: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> are just text.';
const CODE = 'def fib(n):\n    # the classic\n    return n if n < 2 else fib(n - 1) + fib(n - 2)';
const ANSWER = [
  '### Fibonacci',
  '',
  'Two ways to get it:',
  '',
  '- **recursion**, short but slow',
  '- a `for` loop, fast',
  '',
  '```python',
  CODE,
  '```',
  '',
  XSS,
].join('\n');

/** The Markdown module as an IIFE (global `md`), built from the renderer's source. */
async function markdownBundle(): Promise<string> {
  const out = await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: false,
      lib: { entry: fileURLToPath(new URL('../renderer/src/lib/markdown.ts', import.meta.url)), formats: ['iife'], name: 'md' },
    },
  });
  const outputs = Array.isArray(out) ? out : [out];
  const chunk = outputs.flatMap((o) => ('output' in o ? o.output : [])).find((c) => c.type === 'chunk');
  if (!chunk || chunk.type !== 'chunk') throw new Error('no bundle');
  return chunk.code;
}

describe('Markdown module in Chromium', () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const code = await markdownBundle();
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: code });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('never shows a half-parsed fence while an answer streams', async () => {
    // Every prefix, as the stream delivers it: rendered text never holds a literal fence, and once a code block
    // appears it stays (no paragraph ↔ code flicker).
    const report = (await page.evaluate(`((answer) => {
      const bad = [];
      let blocks = 0;
      for (let i = 1; i <= answer.length; i++) {
        const el = document.createElement('div');
        el.innerHTML = md.renderMarkdown(answer.slice(0, i), true);
        const prose = [...el.querySelectorAll('p, li, h3')].map((n) => n.textContent).join(' ');
        const n = el.querySelectorAll('pre').length;
        if (/\`\`|~~/.test(prose) || n < blocks) bad.push(i);
        blocks = n;
      }
      return { bad, blocks };
    })(${JSON.stringify(ANSWER)})`)) as { bad: number[]; blocks: number };
    expect(report.bad).toEqual([]);
    expect(report.blocks).toBe(1);
  });

  it('renders an unclosed fence as code to the end', async () => {
    const html = (await page.evaluate(`md.renderMarkdown('Here:\\n\\n\`\`\`js\\nconst a = 1;', true)`)) as string;
    expect(html).toContain('<pre><code class="hljs language-js">');
    expect(html).toContain('hljs-keyword');
  });

  it('sanitizes raw HTML into text', async () => {
    const html = (await page.evaluate(`md.renderMarkdown(${JSON.stringify(XSS)})`)) as string;
    expect(html).not.toMatch(/<img|<script/i);
    expect(html).toContain('&lt;img src=x onerror=');
  });
});

describe('Markdown answers in the app (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    core = await startCoreUnderTest();
    const model = await core.api.modelsImport({ dir: core.modelDir });
    const session = await core.api.sessionsCreate({
      name: 'Markdown',
      modelId: model.id,
      policy: { name: 'sink', sink: 4, window: 252, pinSystem: false },
    });
    await core.api.sessionsOpen({ id: session.id });
    const store = new Store(openDatabase(core.dbFile));
    store.appendMessage(Number(session.id), { role: 'user', text: `How do I compute Fibonacci numbers? ${XSS}` });
    store.appendMessage(Number(session.id), { role: 'assistant', text: ANSWER });
    store.db.close();
    h = await startHarness(core.api);
    page = h.page;
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.host.url });
    await page.waitForSelector('[data-testid=message][data-role=assistant]');
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('renders headings, lists, inline code and a highlighted code block', async () => {
    const answer = '[data-testid=message][data-role=assistant] [data-testid=message-text]';
    expect(await page.textContent(`${answer} h3`)).toBe('Fibonacci');
    expect(await page.$$eval(`${answer} li`, (els) => els.length)).toBe(2);
    expect(await page.textContent(`${answer} li strong`)).toBe('recursion');
    expect(await page.textContent(`${answer} .code-lang`)).toBe('python');
    expect(await page.$$eval(`${answer} code.language-python .hljs-keyword`, (els) => els.map((e) => e.textContent))).toContain('def');
    expect(await page.textContent(`${answer} pre code`)).toBe(`${CODE}\n`);
  });

  it('copies a code block with its Copy button', async () => {
    await page.click('[data-testid=copy-code]');
    await page.waitForSelector('[data-testid=toast-info]:has-text("Copied.")');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(`${CODE}\n`);
    await shot(page, 'markdown');
  });

  it('shows <script> and <img onerror> in messages as text, running nothing', async () => {
    for (const role of ['user', 'assistant']) {
      const sel = `[data-testid=message][data-role=${role}] [data-testid=message-text]`;
      expect(await page.$$(`${sel} img, ${sel} script`)).toHaveLength(0);
      expect(await page.textContent(sel)).toContain('<img src=x onerror="window.__pwned=1">');
    }
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
