/**
 * The renderer in headless Chromium, through the web host, against the real core and a tiny model:
 * import a model, create a session, chat, switch policy mid-session, paste a long text (progress bar),
 * reload and find the session resumed, search. PERPETUA_SCREENSHOTS=1 also refreshes docs/screenshots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { pasteText, shot, startHarness, waitReady, watchAppearance, type Harness } from './harness.js';

const UNIQUE = 'zebracorn';

describe('renderer e2e (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;

  beforeAll(async () => {
    core = await startCoreUnderTest();
    h = await startHarness(core.api);
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  async function lastAssistantDone(): Promise<void> {
    await page.waitForSelector('[data-testid=message][data-role=assistant]:not([data-state=streaming]) >> nth=-1', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=send]', { timeout: 90_000 });
  }

  it('imports a model through the model manager', async () => {
    await page.click('[data-testid=open-models]');
    await page.fill('[data-testid=model-dir]', core.modelDir);
    await page.click('[data-testid=model-import]');
    await page.waitForSelector('[data-testid=model-item]');
    await shot(page, 'model-manager');
    const providers = await page.$$eval('[data-testid=model-provider] >> nth=0 >> option:not([disabled])', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(providers).toContain('cpu');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=model-manager][open]', { state: 'detached' }).catch(() => {});
  });

  it('creates a session', async () => {
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Endless e2e');
    await page.fill('[data-testid=new-session-system]', 'You are a storyteller.');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Endless e2e")');
    await page.waitForSelector('[data-testid=session-item]:has-text("Endless e2e")');
    await page.waitForSelector('[data-testid=stats-bar]');
  });

  it('chats: Enter sends, the answer streams, stats update', async () => {
    await page.fill('[data-testid=composer-input]', `Once upon a time there was a ${UNIQUE} named Lily.`);
    await page.keyboard.press('Shift+Enter');
    // story-shaped text, so the TinyStories model of the screenshot runs has something to continue
    await page.keyboard.type('One day, she went to the');
    expect(await page.inputValue('[data-testid=composer-input]')).toContain('\nOne day, she went to the');
    await page.keyboard.press('Enter');
    await page.waitForSelector(`[data-testid=message][data-role=user]:has-text("${UNIQUE}")`);
    await lastAssistantDone();
    const answer = await page.textContent('[data-testid=message][data-role=assistant] >> nth=-1 >> [data-testid=message-text]');
    expect(answer?.length ?? 0).toBeGreaterThan(0);
    const seen = await page.textContent('[data-testid=stat-seen]');
    expect(Number(seen?.replace(/[^0-9]/g, ''))).toBeGreaterThan(0);
    expect(await page.inputValue('[data-testid=composer-input]')).toBe('');
    await shot(page, 'chat-light');
  });

  it('regenerates the last answer', async () => {
    const before = await page.$$eval('[data-testid=message]', (els) => els.length);
    await page.hover('[data-testid=message][data-role=assistant] >> nth=-1');
    await page.click('[data-testid=regenerate][data-last=true]');
    await lastAssistantDone();
    expect(await page.$$eval('[data-testid=message]', (els) => els.length)).toBe(before);
  });

  it('stops an answer mid-stream', async () => {
    await page.fill('[data-testid=composer-input]', 'Once upon a time, in a big green forest, there lived a');
    // Clicks Stop from inside the page as soon as the first words show: the tiny model writes a whole answer in
    // a fraction of a second, faster than a round trip from the test could catch it on a fast machine.
    const clicked = page.evaluate(`new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        const text = document.querySelector('[data-testid=message][data-role=assistant][data-state=streaming] [data-testid=message-text]');
        const stop = document.querySelector('[data-testid=stop]');
        if (!text?.textContent || !stop) return;
        observer.disconnect();
        stop.click();
        resolve(true);
      });
      observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
    })`);
    await page.keyboard.press('Enter');
    expect(await clicked).toBe(true);
    await lastAssistantDone();
    expect(await page.getAttribute('[data-testid=message][data-role=assistant] >> nth=-1', 'data-state')).toBe('stopped');
  });

  it('exports the chat to Markdown, and says so only once the file is saved', async () => {
    // The native save dialog cannot open headless: stand in for it, closed without saving the first time.
    await page.evaluate(() => {
      const w = window as unknown as { picked: string[]; saved: string[]; showSaveFilePicker: unknown };
      w.picked = [];
      w.saved = [];
      w.showSaveFilePicker = async (opts: { suggestedName: string }) => {
        w.picked.push(opts.suggestedName);
        if (w.picked.length === 1) throw new DOMException('The user aborted a request.', 'AbortError');
        const chunks: string[] = [];
        return {
          createWritable: async () => ({
            write: async (b: Blob) => void chunks.push(await b.text()),
            close: async () => void w.saved.push(chunks.join('')),
          }),
        };
      };
    });
    const exported = '[data-testid=toast-info]:has-text("Exported to Markdown.")';
    await page.click('[data-testid=export-md]');
    await page.waitForFunction(() => (window as unknown as { picked: string[] }).picked.length === 1);
    await page.click('[data-testid=export-md]');
    await page.waitForSelector(exported);
    const { picked, saved } = await page.evaluate(() => {
      const w = window as unknown as { picked: string[]; saved: string[] };
      return { picked: w.picked, saved: w.saved };
    });
    expect(picked).toEqual(['Endless e2e.md', 'Endless e2e.md']);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatch(/^# Endless e2e/);
    expect(saved[0]).toContain(UNIQUE);
    // one toast for the one save: the closed dialog said nothing
    expect(await page.locator(exported).count()).toBe(1);
  });

  it('switches the cache policy mid-session and shows what happened', async () => {
    await page.click('[data-testid=open-policy]');
    await page.check('[data-testid=policy-window]');
    await page.fill('[data-testid=policy-window-size]', '64');
    await page.click('[data-testid=policy-apply]');
    const statement = await page.waitForSelector('[data-testid=policy-statement]');
    expect((await statement.textContent())?.length ?? 0).toBeGreaterThan(10);
    await page.waitForSelector('[data-testid=stat-policy]:has-text("window 64")');
    await shot(page, 'policy-switcher');
    // and back to attention sinks
    await page.check('[data-testid=policy-sink]');
    await page.fill('[data-testid=policy-sink-count]', '4');
    await page.fill('[data-testid=policy-window-size]', '252');
    await page.click('[data-testid=policy-apply]');
    await page.waitForSelector('[data-testid=stat-policy]:has-text("sink 4 + 252")');
    await page.click('[data-testid=open-policy]');
  });

  it('takes a long paste and shows prefill progress', async () => {
    const para = 'The river kept flowing past the old mill, and the miller counted every turn of the wheel. ';
    const text = para.repeat(Math.ceil(60_000 / para.length));
    const sawProgress = await watchAppearance(page, '[data-testid=prefill-progress]', '__sawProgress');
    await pasteText(page, '[data-testid=composer-input]', text);
    await page.waitForSelector('[data-testid=paste-chip]');
    expect(await page.inputValue('[data-testid=composer-input]')).toBe('');
    await page.keyboard.type('Summarize:');
    await page.keyboard.press('Enter');
    // longer than the window: the composer says what the model will keep before it sends
    await page.click('[data-testid=paste-warning-send]');
    await page.waitForSelector('[data-testid=paste-chip]', { state: 'detached' });
    await lastAssistantDone();
    expect(await sawProgress()).toBe(true);
    const userText = await page.textContent('[data-testid=message][data-role=user] >> nth=-1 >> [data-testid=message-text]');
    expect(userText?.startsWith('Summarize:')).toBe(true);
  });

  it('rejects a message over 10 MB with a clear error', async () => {
    const err = await page.evaluate(`(async () => {
      const sessionId = (await window.perpetua.sessionsList())[0].id;
      try { await window.perpetua.chatSend({ sessionId, text: 'x'.repeat(10 * 1024 * 1024 + 1) }, () => {}).closed; return 'accepted'; }
      catch (e) { return e.message; }
    })()`);
    expect(err).toMatch(/larger than 10 MB/);
  });

  it('resumes the session after a reload', async () => {
    const before = await page.$$eval('[data-testid=message]', (els) => els.map((e) => e.getAttribute('data-seq')));
    await page.reload();
    await waitReady(page);
    await page.waitForSelector('[data-testid=session-title]:has-text("Endless e2e")');
    await page.waitForSelector('[data-testid=message]');
    const after = await page.$$eval('[data-testid=message]', (els) => els.map((e) => e.getAttribute('data-seq')));
    expect(after).toEqual(before);
    expect(await page.textContent('[data-testid=stat-policy]')).toContain('sink 4 + 252');
    // and the conversation continues
    await page.fill('[data-testid=composer-input]', 'And then?');
    await page.keyboard.press('Enter');
    await lastAssistantDone();
  });

  it('searches messages and jumps to a hit', async () => {
    await page.fill('[data-testid=search-input]', UNIQUE);
    const hit = await page.waitForSelector('[data-testid=search-hit]');
    expect(await hit.textContent()).toContain(UNIQUE);
    await shot(page, 'search');
    await hit.click();
    await page.waitForSelector(`[data-testid=message]:has-text("${UNIQUE}")`);
    await page.fill('[data-testid=search-input]', '');
  });

  it('renames and deletes sessions', async () => {
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Scratch');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Scratch")');
    await page.dblclick('[data-testid=session-item]:has-text("Scratch")');
    await page.fill('input[aria-label="Chat name"]', 'Scratch renamed');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=session-title]:has-text("Scratch renamed")');
    await page.hover('[data-testid=session-item]:has-text("Scratch renamed")');
    await page.click('button[aria-label="Delete Scratch renamed"]'); // one click: the toast offers Undo
    await page.waitForSelector('[data-testid=session-item]:has-text("Scratch renamed")', { state: 'detached' });
    await page.waitForSelector('[data-testid=session-title]:has-text("Endless e2e")');
  });

  it('sends from two chats in quick succession: every message lands in its own chat, in order', async () => {
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Second chat');
    await page.click('[data-testid=new-session-create]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Second chat")');
    const first = 'Alpha walked down to the sea.';
    const second = 'Beta climbed up into the hills.';
    await page.click('[data-testid=session-item]:has-text("Endless e2e")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Endless e2e")');
    await page.fill('[data-testid=composer-input]', first);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`[data-testid=message][data-role=user]:has-text("${first}")`);
    // straight to the other chat, while the first answer may still stream
    await page.click('[data-testid=session-item]:has-text("Second chat")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Second chat")');
    await page.fill('[data-testid=composer-input]', second);
    await page.keyboard.press('Enter');
    await lastAssistantDone();
    const shown = () =>
      page.$$eval('[data-testid=message]', (els) =>
        els.map((e) => ({ role: e.getAttribute('data-role'), seq: Number(e.getAttribute('data-seq')), text: e.querySelector('[data-testid=message-text]')?.textContent ?? '' })),
      );
    const inSecond = await shown();
    expect(inSecond.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(inSecond[0].text).toContain(second);
    expect(inSecond.some((m) => m.text.includes(first))).toBe(false);
    // the first chat has its own turn and answer at its end, in order, and nothing of the second
    await page.click('[data-testid=session-item]:has-text("Endless e2e")');
    await page.waitForSelector('[data-testid=session-title]:has-text("Endless e2e")');
    await lastAssistantDone();
    const inFirst = await shown();
    expect(inFirst.slice(-2).map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(inFirst.at(-2)?.text).toContain(first);
    expect(inFirst.some((m) => m.text.includes(second))).toBe(false);
    expect(inFirst.map((m) => m.seq)).toEqual(inFirst.map((m) => m.seq).sort((a, b) => a - b));
    // and the core stored both where they belong
    const stored = await page.evaluate(`(async () => {
      const out = {};
      for (const s of await window.perpetua.sessionsList()) {
        const r = await window.perpetua.sessionsOpen({ id: s.id });
        out[s.name] = r.messages.map((m) => m.role + ':' + m.state + ':' + m.text);
      }
      return out;
    })()`) as Record<string, string[]>;
    expect(stored['Second chat'].map((m) => m.split(':').slice(0, 2).join(':'))).toEqual(['user:done', 'assistant:done']);
    expect(stored['Second chat'][0]).toContain(second);
    expect(stored['Endless e2e'].at(-2)).toContain(first);
    expect(stored['Endless e2e'].at(-1)).toMatch(/^assistant:done:/);
  });

  it('has a dark theme', async () => {
    await page.click('[data-testid=theme-toggle]');
    expect(await page.getAttribute('html', 'data-theme')).toBe('dark');
    await shot(page, 'chat-dark');
    await page.click('[data-testid=theme-toggle]');
    expect(await page.getAttribute('html', 'data-theme')).toBe('light');
  });

  it('never violated the CSP and threw no page errors', async () => {
    expect(await h.cspViolations()).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
