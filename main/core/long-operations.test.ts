/**
 * Long operations on a session report progress as they go and can be cancelled without a trace: a policy switch
 * re-reads a long transcript (progress in tokens with an ETA; cancelled, the old policy and its cache stay), and an
 * A/B run's perplexity measurement reaches the reader chunk by chunk, not only at its end.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AbPacket, ChatPacket, PolicyPacket } from '../api/packets.js';
import type { PolicyConfig } from '../api/schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { Model } from '../engine/model.js';
import { toSpec } from '../policy/policy.js';
import { AbBranch, runAb, type AbEvent } from './ab-run.js';
import { CoreService } from './core-service.js';
import { PersistentChat } from './persistent-chat.js';
import { readChannel } from './read-channel.js';

const SINK: PolicyConfig = { name: 'sink', sink: 4, window: 60, pinSystem: false };
const WINDOW: PolicyConfig = { name: 'window', sink: 0, window: 32, pinSystem: false };
const WORDS = 'the lighthouse keeper counted the ships that passed the rocks every night of the long winter'.split(' ');

describe('long operations on a session', () => {
  let core: CoreService;
  let sessionId = '';
  let dbFile = '';
  let closed = false;

  beforeAll(async () => {
    dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-long-ops-')), 'perpetua.db');
    core = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const model = await core.modelsImport({ dir: testModelDir() });
    sessionId = (await core.sessionsCreate({ name: 'Long', modelId: model.id, policy: SINK })).id;
    // a transcript of a few thousand tokens, written as a long-lived chat would have it
    const store = new Store(openDatabase(dbFile));
    for (let i = 0; i < 60; i++) {
      const text = Array.from({ length: 40 }, (_, k) => WORDS[(i + k) % WORDS.length]).join(' ');
      store.appendMessage(Number(sessionId), { role: i % 2 ? 'assistant' : 'user', text });
    }
    store.db.close();
    await core.sessionsOpen({ id: sessionId });
  });

  afterAll(async () => {
    if (!closed) await core?.close();
  });

  const switchTo = (policy: PolicyConfig) => readChannel<PolicyPacket>((signal) => core.policySet({ sessionId, policy }, signal));

  it('cancels a policy switch: the old policy and its cache stay, and the chat answers as before', async () => {
    const before = (await core.sessionsOpen({ id: sessionId })).stats;
    const switching = switchTo(WINDOW);
    const first = await switching.started;
    expect(first).toMatchObject({ type: 'progress', phase: 'rebuild' });
    switching.cancel();
    const end = await switching.closed;
    expect(end).toMatchObject({ type: 'stopped', policy: SINK });
    const progress = switching.packets.filter((p) => p.type === 'progress');
    expect(progress[0].done).toBeLessThan(progress[0].total);

    const after = await core.sessionsOpen({ id: sessionId });
    expect(after.session.policy).toEqual(SINK);
    expect(after.stats).toMatchObject({ policy: SINK, cacheFill: before.cacheFill, cacheCapacity: before.cacheCapacity, totalTokensSeen: before.totalTokensSeen });
    const answer = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId, text: 'And then?' }, signal));
    expect((await answer.closed).type).toBe('done');
  });

  it('switches with progress over the whole transcript, from the first chunk to the last token', async () => {
    const switching = switchTo(WINDOW);
    const end = await switching.closed;
    expect(end).toMatchObject({ type: 'done', policy: WINDOW, stats: { policy: WINDOW, cacheCapacity: 32 } });
    const progress = switching.packets.filter((p): p is Extract<PolicyPacket, { type: 'progress' }> => p.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    const last = progress[progress.length - 1];
    expect(last.done).toBe(last.total);
    expect(last.total).toBeGreaterThan(1000);
    for (let i = 1; i < progress.length; i++) expect(progress[i].done).toBeGreaterThan(progress[i - 1].done);
    expect((await core.sessionsOpen({ id: sessionId })).session.policy).toEqual(WINDOW);
  });

  it('cancels an A/B run while it measures: nothing is stored and the chat is untouched', async () => {
    const before = await core.sessionsOpen({ id: sessionId });
    const runsBefore = (await core.abHistory({ sessionId })).runs.length;
    const run = readChannel<AbPacket>((signal) => core.abStart({ sessionId, a: SINK, b: WINDOW, prompt: 'Once more.', maxTokens: 4 }, signal));
    await new Promise<void>((resolve) => {
      const poll = () => (run.packets.some((p) => p.type === 'progress' && p.phase === 'scoring') ? resolve() : setTimeout(poll, 5));
      poll();
    });
    run.cancel();
    expect((await run.closed).type).toBe('stopped');
    expect((await core.abHistory({ sessionId })).runs.length).toBe(runsBefore);
    const after = await core.sessionsOpen({ id: sessionId });
    expect(after.messages.map((m) => m.id)).toEqual(before.messages.map((m) => m.id));
    expect(after.stats).toMatchObject({ policy: before.stats.policy, cacheFill: before.stats.cacheFill, totalTokensSeen: before.stats.totalTokensSeen });
  });

  it('measures the perplexity chunk by chunk, each chunk reported as it is measured', async () => {
    await core.close();
    closed = true;
    const store = new Store(openDatabase(dbFile));
    const chat = await PersistentChat.open(store, await Model.load(testModelDir()), { name: 'Long', id: Number(sessionId) });
    const [a, b] = [await AbBranch.create('a', chat, toSpec(SINK)), await AbBranch.create('b', chat, toSpec(WINDOW))];
    const events: AbEvent[] = [];
    for await (const ev of runAb(a, b, 'Tell me more.', { maxTokens: 2 })) events.push(ev);
    const scoring = events.filter((e): e is Extract<AbEvent, { type: 'scoring' }> => e.type === 'scoring' && e.branch === 'a');
    const between = scoring.filter((e) => e.done > 0 && e.done < e.total);
    // 64 tokens per measured chunk: every chunk of a transcript of thousands of tokens has its own event
    expect(between.length).toBeGreaterThan(scoring[0].total / 64 - 3);
    for (const branch of [a, b, chat]) branch.chat.engine.policy.dispose();
    chat.close();
    store.db.close();
  });
});
