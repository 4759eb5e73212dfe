import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { createPolicy } from '../cache/create-policy.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { ChatSession, type ChatEvent } from './chat-session.js';

async function drain(events: AsyncGenerator<ChatEvent>) {
  const all: ChatEvent[] = [];
  for await (const ev of events) all.push(ev);
  return all;
}

describe('ChatSession', () => {
  it("feeds each turn through the model's chat template exactly once", async () => {
    const model = await Model.load(testModelDir());
    expect(model.template.hasTemplate).toBe(true);
    const engine = new Engine(model, createPolicy({ ...DEFAULT_POLICY, name: 'dense' }, model.config));
    const chat = new ChatSession(engine, 'You are terse.');
    const generated = async (events: AsyncGenerator<ChatEvent>) =>
      (await drain(events)).flatMap((e) => (e.type === 'done' ? e.tokens : []));
    const a1 = await generated(chat.send('Hi!', { maxTokens: 6, sampling: { temperature: 0.7, seed: 1 } }));
    const a2 = await generated(chat.send('Tell me more.', { maxTokens: 6, sampling: { temperature: 0.7, seed: 2 } }));
    expect(chat.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
    // the cache holds each rendered piece once: system, first user turn, answer, the text turn two adds, answer
    const [sys, u1, as1, u2] = chat.messages;
    const r = (msgs: typeof chat.messages, gen: boolean) => model.template.render(msgs, gen);
    const pieces = [
      r([sys], false),
      r([sys, u1], true).slice(r([sys], false).length),
      r([sys, u1, as1, u2], true).slice(r([sys, u1], true).length + as1.content.length),
    ];
    expect(pieces[2].startsWith('</s><|user|>Tell me more.</s><|assistant|>')).toBe(true);
    const expected = pieces.reduce((n, p) => n + model.tokenizer.encode(p, false).length, 0) + a1.length + a2.length;
    expect(engine.policy.totalTokensSeen).toBe(expected);
    const rendered = r(chat.messages.slice(0, -1), true) + chat.messages.at(-1)!.content;
    expect(rendered).toContain('<|system|>You are terse.</s><|user|>Hi!</s><|assistant|>');
    await model.dispose();
  });

  it('streams a book-sized paste through a bounded sink cache with progress', async () => {
    const model = await Model.load(testModelDir());
    const engine = new Engine(model, createPolicy({ ...DEFAULT_POLICY, sink: 4, window: 252 }, model.config));
    const chat = new ChatSession(engine);
    const book = 'It was a bright cold day in April, and the clocks were striking thirteen. '.repeat(600);
    const events = await drain(chat.send(book, { maxTokens: 3, chunk: 512 }));
    const progress = events.filter((e) => e.type === 'prefill') as Extract<ChatEvent, { type: 'prefill' }>[];
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b));
    expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);
    expect(engine.policy.totalTokensSeen).toBeGreaterThan(progress.at(-1)!.total);
    expect(engine.policy.length).toBeLessThanOrEqual(256);
    expect(events.at(-1)!.type).toBe('done');
    await model.dispose();
  });

  it('pins the system prompt as the sink region when asked', async () => {
    const model = await Model.load(testModelDir());
    const policy = createPolicy({ ...DEFAULT_POLICY, sink: 4, window: 32, evictChunk: 8, pinSystem: true }, model.config);
    const chat = new ChatSession(new Engine(model, policy), 'Always answer in rhymes, please.');
    await drain(chat.send('a '.repeat(100), { maxTokens: 2 }));
    const c = policy.contents();
    const systemTokens = model.tokenizer.encode(model.template.render([{ role: 'system', content: 'Always answer in rhymes, please.' }], false), false).length;
    expect(c.sinks).toBe(systemTokens);
    expect(c.originalPositions.slice(0, systemTokens)).toEqual([...Array(systemTokens).keys()]);
    await model.dispose();
  });

  it("starts every stream with the model's pre-trained sink token, which the sink policy then keeps", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-sinktoken-'));
    cpSync(testModelDir(), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, perpetua_sink_token: '<|system|>', perpetua_sink_token_id: 3 }));
    const model = await Model.load(dir);
    expect(model.streamPrefix).toEqual([3]);
    const policy = createPolicy({ ...DEFAULT_POLICY, sink: 1, window: 24, evictChunk: 8 }, model.config);
    const chat = new ChatSession(new Engine(model, policy), null, { raw: true });
    await drain(chat.send('a long story about the sea '.repeat(20), { maxTokens: 4 }));
    expect(policy.totalTokensSeen).toBeGreaterThan(25);
    expect(policy.contents().tokens[0]).toBe(3);
    expect(policy.contents().originalPositions[0]).toBe(0);
    await model.dispose();
  });
});
