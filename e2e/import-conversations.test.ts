/**
 * Importing conversations from the chat list, in Chromium against the real core with the built-in model: a ChatGPT
 * conversations.json with an edited question and a regenerated answer comes in with both branches, the report says
 * what was left out and why, and the chat opens on the branch ChatGPT showed. A file that is not UTF-8 is refused
 * with a sentence, and nothing is imported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatGptConversations } from '../main/core/fixtures/chatgpt-conversations.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { shot, startHarness, type Harness } from './harness.js';

let core: CoreUnderTest;
let h: Harness;
let page: Page;
let dir: string;
/** what the shell's file picker answers next */
let picked: string | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-import-'));
  core = await startCoreUnderTest({ maxAnswerTokens: 8 });
  await core.api.modelsImport({ dir: core.modelDir });
  h = await startHarness(core.api, undefined, { pickFile: async () => picked });
  page = h.page;
  await page.waitForSelector('[data-testid=open-import]');
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function importFile(path: string): Promise<void> {
  picked = path;
  await page.click('[data-testid=open-import]');
  await page.waitForSelector('[data-testid=import-dialog] [data-testid=import-model]');
  await page.click('[data-testid=import-choose]');
  await page.waitForFunction((p) => document.querySelector('[data-testid=import-file]')?.textContent === p, path);
  await page.click('[data-testid=import-start]');
}

describe('import conversations', () => {
  it('a file that is not UTF-8: the dialog says so and nothing is imported', async () => {
    const bad = join(dir, 'broken.json');
    writeFileSync(bad, Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]));
    await importFile(bad);
    const error = await page.waitForSelector('[data-testid=import-error]');
    expect(await error.textContent()).toMatch(/is not UTF-8 text\. Nothing was imported\.$/);
    expect(await core.api.sessionsList()).toEqual([]);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=import-dialog] [data-testid=import-model]', { state: 'detached' });
  });

  it("ChatGPT's conversations.json: every branch kept, a report of what was left out, the chat opens on ChatGPT's branch", async () => {
    const file = join(dir, 'conversations.json');
    writeFileSync(file, JSON.stringify(chatGptConversations()));
    await importFile(file);
    await page.waitForSelector('[data-testid=import-report]');
    expect(await page.textContent('[data-testid=import-summary]')).toBe('Imported 1 conversation with 8 messages.');
    const skips = await page.$$eval('[data-testid=import-skip]', (els) => els.map((e) => [e.getAttribute('data-reason'), e.textContent?.trim()]));
    expect(Object.fromEntries(skips)).toMatchObject({
      hidden: expect.stringMatching(/^1 hidden message/),
      not_text: expect.stringMatching(/^2 parts that are not text \(images, files, quotes, reasoning\) — only text is imported\s*e\.g\. “Lisbon in a day”, message a2b · “Only a picture”, message p1$/),
      tool: expect.stringMatching(/^2 tool calls and tool outputs/),
      empty: expect.stringMatching(/^1 empty message/),
      no_messages: expect.stringMatching(/^1 conversation with nothing to import/),
      malformed: expect.stringMatching(/^1 entry not in the expected form\s*e\.g\. conversation 3$/),
    });
    await shot(page, 'import-report');

    await page.click('[data-testid=import-open]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Lisbon in a day")');
    await page.waitForSelector('[data-testid=message]:has-text("Then walk to the river.")');
    const shown = await page.$$eval('[data-testid=message] [data-testid=message-text]', (els) => els.map((e) => e.textContent?.trim()));
    expect(shown).toEqual(['Plan a day in Lisbon.', 'Start at Alfama.', 'What about dinner?', 'Try the Time Out Market.', 'Then walk to the river.']);
    // the regenerated answer and the edited question are second versions, with the first ones a click away
    const versions = await page.$$eval('[data-testid=message]', (els) => els.map((e) => e.querySelector('[data-testid=branch-label]')?.textContent ?? null));
    expect(versions).toEqual([null, '2/2', '2/2', null, null]);

    // it runs: the transcript is read into the cache, and an answer comes
    await page.fill('[data-testid=composer-input]', 'Thanks!');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message][data-role=assistant]:not([data-state=streaming])').length === 4, undefined, { timeout: 90_000 });
  });
});
