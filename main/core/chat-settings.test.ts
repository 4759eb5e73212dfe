import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApiClient } from '../api/api-client.js';
import { ApiError } from '../api/api-error.js';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { createApiRouter } from './api-router.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

type Final = Extract<ChatPacket, { type: 'done' | 'stopped' | 'failed' }>;

async function answer(open: (signal: AbortSignal) => AsyncIterable<ChatPacket>) {
  const channel = readChannel<ChatPacket>(open);
  await channel.started;
  const final = (await channel.closed) as Final;
  return { final, packets: channel.packets };
}

/** The generated model with a generation_config.json, as a Hugging Face export carries one. */
function modelWithGenerationConfig(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'perpetua-gencfg-')), 'model');
  cpSync(testModelDir(), dir, { recursive: true });
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.9, repetition_penalty: 1.2 }));
  return dir;
}

describe('per-chat generation settings, system prompt and answer speed', () => {
  it('answers with the chat settings (max tokens, stop strings), keeps them and the speed across a restart', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-settings-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 12 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const s = await core.sessionsCreate({ name: 'Settings', modelId: model.id, policy: { name: 'sink', sink: 4, window: 200, pinSystem: false } });
    // the generated model has no generation_config.json: the usual chat sampling, the core's answer length
    expect(await core.sessionsSettings({ id: s.id })).toEqual({
      generation: {},
      defaults: { temperature: 0.8, topK: 0, topP: 0.95, minP: 0, repetitionPenalty: 1.1, maxTokens: 12, stop: [], seed: null },
      systemPrompt: '',
    });
    // the generated model writes visible text when sampled hot; a seed makes the answer repeatable
    await core.sessionsSetGeneration({ id: s.id, generation: { temperature: 3, seed: 2 } });

    const first = await answer((signal) => core.chatSend({ sessionId: s.id, text: 'Once upon a time' }, signal));
    expect(first.final.type).toBe('done');
    const full = first.final.message!.text;
    expect(first.final.message!.stats).toMatchObject({ tokens: 12 });
    expect(first.final.message!.stats!.tokensPerSecond).toBeGreaterThan(0);
    expect(first.final.message!.stats!.ttftMs).toBeGreaterThan(0);
    // live while streaming: the stats packet at the first token carries the answer's speed so far
    const live = first.packets.flatMap((p) => (p.type === 'stats' && p.stats.answer ? [p.stats] : []));
    expect(live.length).toBeGreaterThan(0);
    expect(live[0].tokensPerSecond).toBe(live[0].answer!.tokensPerSecond);

    // a stop string from the middle of the seeded answer: the regenerated answer ends just before it
    const at = [...full.slice(2)].findIndex((c) => c.trim() !== '') + 2;
    const stop = full.slice(at, at + 2);
    expect(stop.trim()).not.toBe('');
    expect(full.indexOf(stop)).toBeGreaterThan(0);
    const settings = await core.sessionsSetGeneration({ id: s.id, generation: { temperature: 3, seed: 2, stop: [stop] } });
    expect(settings.generation).toEqual({ temperature: 3, seed: 2, stop: [stop] });
    const stopped = await answer((signal) => core.chatRegenerate({ sessionId: s.id }, signal));
    const streamed = stopped.packets.flatMap((p) => (p.type === 'token' ? [p.delta] : [])).join('');
    expect(stopped.final.message!.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(streamed).toBe(stopped.final.message!.text); // nothing of the stop string was shown, nor stored
    expect(stopped.final.message!.text).not.toContain(stop);

    await core.sessionsSetGeneration({ id: s.id, generation: { maxTokens: 3 } });
    const short = await answer((signal) => core.chatSend({ sessionId: s.id, text: 'And then?' }, signal));
    expect(short.final.message!.stats!.tokens).toBeLessThanOrEqual(3);
    await core.close();

    const again = new CoreService({ dbFile, maxAnswerTokens: 12 });
    expect((await again.sessionsSettings({ id: s.id })).generation).toEqual({ maxTokens: 3 });
    const opened = await again.sessionsOpen({ id: s.id });
    const answers = opened.messages.filter((m) => m.role === 'assistant');
    expect(answers).toHaveLength(2);
    for (const m of answers) expect(m.stats).toMatchObject({ tokens: expect.any(Number), ttftMs: expect.any(Number), tokensPerSecond: expect.any(Number) });
    expect(opened.messages.find((m) => m.role === 'user')!.stats).toBeUndefined();
    await again.close();
  });

  it('takes the defaults from generation_config.json and refuses settings out of bounds with one sentence', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-settings-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 8 });
    // through the router, as the renderer calls it: params are validated there
    const api = createApiClient({ send: (req) => void router.handle(JSON.parse(JSON.stringify(req))) });
    const router = createApiRouter(core, (m) => api.receive(JSON.parse(JSON.stringify(m))));
    const client = api.bridge;
    const model = await client.modelsImport({ dir: modelWithGenerationConfig() });
    const s = await client.sessionsCreate({ name: 'Bounds', modelId: model.id, policy: { name: 'window', sink: 0, window: 64, pinSystem: false } });
    expect((await client.sessionsSettings({ id: s.id })).defaults).toEqual({ temperature: 0.6, topK: 0, topP: 0.9, minP: 0, repetitionPenalty: 1.2, maxTokens: 8, stop: [], seed: null });
    const refused = async (generation: Record<string, unknown>) => {
      const err = await client.sessionsSetGeneration({ id: s.id, generation: generation as never }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('invalid_params');
      return (err as ApiError).message;
    };
    expect(await refused({ temperature: -1 })).toContain('The temperature must be at least 0.');
    expect(await refused({ topP: 0 })).toContain('Top-p must be greater than 0.');
    expect(await refused({ topK: 2.5 })).toContain('Top-k must be a whole number.');
    expect(await refused({ repetitionPenalty: 11 })).toContain('The repetition penalty must be at most 10.');
    expect(await refused({ maxTokens: 0 })).toContain('Max tokens must be at least 1.');
    expect(await refused({ stop: [''] })).toContain('A stop string is empty.');
    expect(await refused({ seed: -1 })).toContain('The seed must be at least 0.');
    expect(await refused({ temp: 1 })).toMatch(/temp/);
    // nothing was lost: the stored settings are what they were
    expect((await client.sessionsSettings({ id: s.id })).generation).toEqual({});

    // a value a later version would refuse falls back to the model's default, field by field
    const store = new Store(openDatabase(dbFile));
    store.updateSessionGeneration(Number(s.id), { temperature: 500, topK: 5 });
    store.db.close();
    expect((await client.sessionsSettings({ id: s.id })).generation).toEqual({ topK: 5 });
    await core.close();
  });

  it('rebuilds the cache after a new system prompt, says so, and refuses a message meanwhile', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-settings-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 6 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const s = await core.sessionsCreate({ name: 'Prompt', modelId: model.id, policy: { name: 'sink', sink: 4, window: 200, pinSystem: false } });
    expect((await core.sessionsSetSystemPrompt({ id: s.id, systemPrompt: 'Be kind.' })).statement).toMatch(/conversation is empty/);
    await answer((signal) => core.chatSend({ sessionId: s.id, text: 'Hello there.' }, signal));
    const before = (await core.sessionsOpen({ id: s.id })).stats;

    const applying = core.sessionsSetSystemPrompt({ id: s.id, systemPrompt: 'You are a lighthouse keeper who speaks in short sentences.' });
    await expect(answer((signal) => core.chatSend({ sessionId: s.id, text: 'Too soon' }, signal))).rejects.toMatchObject({ code: 'busy' });
    const changed = await applying;
    expect(changed.statement).toMatch(new RegExp(`^The new system prompt now starts the cache: the old cache \\(${before.cacheFill} tokens\\) was dropped and rebuilt by re-reading the transcript \\(2 messages\\)`));
    expect(changed.statement).toMatch(/attention sinks\.$/);
    expect(changed.session.systemPrompt).toBe('You are a lighthouse keeper who speaks in short sentences.');
    expect(changed.stats.cacheFill).toBeGreaterThan(before.cacheFill); // the longer prompt is in the cache now
    const store = new Store(openDatabase(dbFile));
    // the old prompt's snapshots are gone; the one left is of the rebuilt cache
    const snapshots = store.listSnapshots(Number(s.id));
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0].messageId).toBe(Number((await core.sessionsOpen({ id: s.id })).messages.at(-1)!.id));
    store.db.close();
    await core.close();

    // a restart resumes the rebuilt cache, with the new prompt at its start
    const again = new CoreService({ dbFile, maxAnswerTokens: 6 });
    expect((await again.sessionsOpen({ id: s.id })).stats.cacheFill).toBe(changed.stats.cacheFill);
    expect((await again.sessionsSettings({ id: s.id })).systemPrompt).toBe('You are a lighthouse keeper who speaks in short sentences.');
    await again.close();
  });
});
