/**
 * The live token counter under a streaming answer follows the words shown: every time the page changes while the
 * answer streams, the counter is compared with the tokens of the text shown at that moment (the core's own count
 * for that much of the answer, from the packets it sent). Real core, built-in model (it writes prose), paced tokens.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import type { ChatPacket } from '../main/api/packets.js';
import { builtinModelDir } from '../main/models/builtin-model.js';
import { startCoreUnderTest, type CoreUnderTest } from './core-under-test.js';
import { startHarness, type Harness } from './harness.js';

/** What a sample compares: letters and digits only (Markdown may turn punctuation and spaces into markup). */
const bare = (text: string) => text.replace(/[^\p{L}\p{N}]/gu, '');

/** The chat's answer packets, as the page receives them. */
function recordingAnswers(api: PerpetuaApi, packets: ChatPacket[]): PerpetuaApi {
  return new Proxy(api, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      if (key !== 'chatSend') return value.bind(target);
      return async function* (params: unknown, signal: AbortSignal) {
        for await (const p of value.call(target, params, signal) as AsyncIterable<ChatPacket>) {
          packets.push(p);
          yield p;
        }
      };
    },
  });
}

describe('live token counter while an answer streams (web host + real core)', () => {
  let core: CoreUnderTest;
  let h: Harness;
  let page: Page;
  const packets: ChatPacket[] = [];

  beforeAll(async () => {
    // a real model's pace: the words arrive over seconds, as a user reads them
    core = await startCoreUnderTest({ paceTokensMs: 25, maxAnswerTokens: 90 });
    const model = await core.api.modelsImport({ dir: builtinModelDir() });
    await core.api.sessionsCreate({ name: 'Counting', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
    h = await startHarness(recordingAnswers(core.api, packets));
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
    await core?.close();
  });

  it('shows as many tokens as the text shown has, at every update', async () => {
    await page.waitForSelector('[data-testid=session-title]:has-text("Counting")');
    // every change of the page while the answer streams: the text shown and the counter under it
    await page.evaluate(() => {
      const w = window as unknown as { __samples: { text: string; counter: string }[] };
      w.__samples = [];
      new MutationObserver(() => {
        const m = document.querySelector('[data-testid=message][data-role=assistant][data-state=streaming]');
        const counter = m?.querySelector('[data-testid=message-speed]')?.textContent;
        if (m && counter) w.__samples.push({ text: m.querySelector('[data-testid=message-text]')?.textContent ?? '', counter });
      }).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    await page.fill('[data-testid=composer-input]', 'Once upon a time, in a small town by the sea,');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message][data-role=assistant][data-state=done]', { timeout: 120_000 });

    const samples = (await page.evaluate(() => (window as unknown as { __samples: { text: string; counter: string }[] }).__samples)).map((s) => ({
      text: bare(s.text),
      counter: Number(/([\d,]+) tokens?\s*$/.exec(s.counter)?.[1].replace(/,/g, '')),
    }));
    // the core's count for each prefix of the answer it sent (none before its first words)
    const prefixes: { text: string; tokens: number }[] = [{ text: '', tokens: 0 }];
    let text = '';
    for (const p of packets) {
      if (p.type !== 'token') continue;
      text += p.delta;
      prefixes.push({ text: bare(text), tokens: p.tokens ?? prefixes.length });
    }
    const done = packets.at(-1);
    if (done?.type !== 'done') throw new Error(`The answer ended ${done?.type}.`);
    expect(done.message.stats?.tokens).toBeGreaterThanOrEqual(30);
    expect(prefixes.at(-1)!.tokens).toBeLessThanOrEqual(done.message.stats!.tokens);
    expect(samples.length).toBeGreaterThan(10);

    let exact = 0;
    for (const s of samples) {
      const shown = prefixes.filter((p) => p.text === s.text);
      expect(shown.length, `"${s.text}" is a part of the answer`).toBeGreaterThan(0);
      // never behind the words shown; equal but when the Markdown tail skipped a costly frame (streaming-markdown.ts)
      expect(s.counter).toBeGreaterThanOrEqual(Math.min(...shown.map((p) => p.tokens)));
      if (shown.some((p) => p.tokens === s.counter)) exact++;
    }
    expect(exact / samples.length).toBeGreaterThanOrEqual(0.75);
    // once written, the counter is the stored answer's
    const final = await page.textContent('[data-testid=message][data-role=assistant] >> nth=-1 >> [data-testid=message-speed]');
    expect(final).toMatch(new RegExp(`${done.message.stats!.tokens} tokens\\s*$`));
    expect(h.pageErrors).toEqual([]);
  });
});
