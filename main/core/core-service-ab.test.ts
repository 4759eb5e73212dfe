import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OutgoingEnvelope } from '../api/envelope.js';
import type { AbPacket, ChatPacket } from '../api/packets.js';
import type { PolicyConfig } from '../api/schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { percentile } from '../eval/percentile.js';
import { createApiRouter } from './api-router.js';
import { CoreService } from './core-service.js';
import { readChannel, type ChannelReader } from './read-channel.js';

const A: PolicyConfig = { name: 'sink', sink: 4, window: 32, pinSystem: false };
const B: PolicyConfig = { name: 'window', sink: 0, window: 24, pinSystem: false };

type AbDone = Extract<AbPacket, { type: 'done' }>;

function abStart(core: CoreService, p: Parameters<CoreService['abStart']>[0]): ChannelReader<AbPacket> {
  return readChannel<AbPacket>((signal) => core.abStart(p, signal));
}

/** A run that must end stored: its `done` packet. */
async function abDone(run: ChannelReader<AbPacket>): Promise<AbDone> {
  const final = await run.closed;
  if (final.type !== 'done') throw new Error(`The A/B run ended ${final.type}.`);
  return final;
}

/** Sends and waits for the whole answer (its final packet). */
function answer(core: CoreService, sessionId: string, text: string): Promise<ChatPacket> {
  return readChannel<ChatPacket>((signal) => core.chatSend({ sessionId, text }, signal)).closed;
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

async function setUp(maxAnswerTokens = 10) {
  const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-ab-')), 'perpetua.db');
  const core = new CoreService({ dbFile, maxAnswerTokens });
  const model = await core.modelsImport({ dir: testModelDir() });
  const session = await core.sessionsCreate({ name: 'trip', modelId: model.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
  await answer(core, session.id, 'We packed the car for the long trip north.');
  return { core, dbFile, session };
}

describe('CoreService A/B runs', () => {
  it('streams both branches, stores the run, keeps the session busy meanwhile and unchanged afterwards', async () => {
    const { core, session } = await setUp();
    const before = await core.sessionsOpen({ id: session.id });
    const run = abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 8 });
    expect((await run.started).type).toBe('started');
    await expect(readChannel((signal) => core.chatSend({ sessionId: session.id, text: 'hello' }, signal)).started).rejects.toThrow(/A\/B comparison/);
    await expect(abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'again' }).started).rejects.toThrow(/A\/B comparison/);
    const done = await abDone(run);

    const mine = run.packets;
    for (const branch of ['a', 'b'] as const) {
      const streamed = mine.flatMap((p) => (p.type === 'token' && p.branch === branch ? [p.delta] : [])).join('');
      expect(streamed).toBe(done[branch].answer);
      expect(done[branch].answer.length).toBeGreaterThan(0);
      expect(done[branch].tokens).toBeLessThanOrEqual(8);
      expect(done[branch].latencyP90Ms).toBeGreaterThanOrEqual(done[branch].latencyP50Ms);
      expect(done[branch].transcriptPpl).toBeGreaterThan(1);
      expect(done[branch].fork).toBe('forked');
      const phases = mine.flatMap((p) => (p.type === 'progress' && p.branch === branch ? [p.phase] : []));
      expect(new Set(phases)).toEqual(new Set(['fork', 'prefill', 'scoring']));
    }
    expect(done.a.policy).toEqual(A);
    expect(done.b.policy).toEqual(B);
    expect(done.a.cacheCapacity).toBe(36);
    expect(done.b.cacheCapacity).toBe(24);
    expect(done.b.cacheFill).toBeLessThanOrEqual(24);

    // stored, unvoted; the session itself did not change and is free again
    const history = await core.abHistory({ sessionId: session.id });
    expect(history.runs).toHaveLength(1);
    expect(history.runs[0]).toMatchObject({ id: done.runId, sessionId: session.id, prompt: 'Then the road', vote: null });
    expect(history.runs[0].a).toEqual(done.a);
    const after = await core.sessionsOpen({ id: session.id });
    expect(after.messages).toEqual(before.messages);
    expect(after.session.policy).toEqual(before.session.policy);
    expect(after.stats.totalTokensSeen).toBe(before.stats.totalTokensSeen);
    await core.close();
  });

  it('stores a vote without continuing, then continues from B: prompt and answer join the chat, B’s policy becomes the session’s', async () => {
    const { core, dbFile, session } = await setUp();
    const done = await abDone(abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 8 }));
    const seenBefore = (await core.sessionsOpen({ id: session.id })).stats.totalTokensSeen;

    const tie = await core.abVote({ runId: done.runId, vote: 'tie' });
    expect(tie).toMatchObject({ continued: false, statement: null, run: { vote: 'tie' } });
    expect(tie.session?.policy).toEqual({ name: 'sink', sink: 4, window: 60, pinSystem: false });
    await expect(core.abVote({ runId: done.runId, vote: 'tie', continueWith: true })).rejects.toThrow(/Vote for A or B/);

    const voted = await core.abVote({ runId: done.runId, vote: 'b', continueWith: true });
    expect(voted.continued).toBe(true);
    expect(voted.run.vote).toBe('b');
    expect(voted.session?.policy).toEqual(B);
    expect(voted.statement).toMatch(/continues from B: window \(last 24 tokens\)/);
    expect(voted.stats?.cacheCapacity).toBe(24);
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.session.policy).toEqual(B);
    expect(opened.stats.policy).toEqual(B);
    expect(opened.stats.cacheCapacity).toBe(24);
    expect(opened.stats.totalTokensSeen).toBeGreaterThan(seenBefore);
    expect(opened.messages.slice(-2).map((m) => [m.role, m.text])).toEqual([
      ['user', 'Then the road'],
      ['assistant', done.b.answer],
    ]);
    // the branch is used up, and the chat goes on from it
    await expect(core.abVote({ runId: done.runId, vote: 'a', continueWith: true })).rejects.toThrow(/can no longer continue/);
    expect(await answer(core, session.id, 'And then?')).toMatchObject({ type: 'done', message: { state: 'done' } });
    expect((await core.abHistory()).runs[0].vote).toBe('b');
    await core.close();

    // a new core finds the session continued from B
    const again = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const reopened = await again.sessionsOpen({ id: session.id });
    expect(reopened.session.policy).toEqual(B);
    expect(reopened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    await again.close();
  });

  it('keeps a run over a restart: both answers come back, and the chat continues from A with its cache rebuilt', async () => {
    const { core, dbFile, session } = await setUp();
    const done = await abDone(abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 8 }));
    const seenBefore = (await core.sessionsOpen({ id: session.id })).stats.totalTokensSeen;
    await core.close(); // the forked caches were only in this core's memory

    const again = new CoreService({ dbFile, maxAnswerTokens: 10 });
    const [stored] = (await again.abHistory({ sessionId: session.id })).runs;
    expect(stored).toMatchObject({ id: done.runId, prompt: 'Then the road', vote: null, continuable: true });
    expect([stored.a.answer, stored.b.answer]).toEqual([done.a.answer, done.b.answer]);

    const voted = await again.abVote({ runId: done.runId, vote: 'a', continueWith: true });
    expect(voted).toMatchObject({ continued: true, run: { vote: 'a', continuable: false }, session: { policy: A } });
    expect(voted.statement).toMatch(/continues from A: sink/);
    expect(voted.stats).toMatchObject({ policy: A, cacheCapacity: 36 });
    expect(voted.stats!.cacheFill).toBeGreaterThan(0);
    expect(voted.stats!.totalTokensSeen).toBeGreaterThan(seenBefore);
    const opened = await again.sessionsOpen({ id: session.id });
    expect(opened.messages.slice(-2).map((m) => [m.role, m.text])).toEqual([
      ['user', 'Then the road'],
      ['assistant', done.a.answer],
    ]);
    await expect(again.abVote({ runId: done.runId, vote: 'b', continueWith: true })).rejects.toThrow(/moved on/);
    expect(await answer(again, session.id, 'And then?')).toMatchObject({ type: 'done', message: { state: 'done' } });
    await again.close();

    // the continued chat reopens under A with the whole transcript
    const third = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const reopened = await third.sessionsOpen({ id: session.id });
    expect(reopened.session.policy).toEqual(A);
    expect(reopened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect((await third.abHistory({ sessionId: session.id })).runs[0]).toMatchObject({ vote: 'a', continuable: false });
    await third.close();
  });

  it('after a restart, refuses to continue from a run once the chat moved on', async () => {
    const { core, dbFile, session } = await setUp();
    const done = await abDone(abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 6 }));
    await answer(core, session.id, 'Something else.');
    await core.close();
    const again = new CoreService({ dbFile, maxAnswerTokens: 4 });
    expect((await again.abHistory({ sessionId: session.id })).runs[0].continuable).toBe(false);
    const before = await again.sessionsOpen({ id: session.id });
    await expect(again.abVote({ runId: done.runId, vote: 'b', continueWith: true })).rejects.toMatchObject({ code: 'stale' });
    const after = await again.sessionsOpen({ id: session.id });
    expect(after.messages).toEqual(before.messages);
    expect(after.session.policy).toEqual(before.session.policy);
    await again.close();
  });

  it('refuses to continue once the chat moved on, and stops a run without storing it', async () => {
    const { core, session } = await setUp();
    const done = await abDone(abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 6 }));
    await answer(core, session.id, 'Something else.');
    await expect(core.abVote({ runId: done.runId, vote: 'a', continueWith: true })).rejects.toThrow(/moved on/);
    expect((await core.abHistory()).runs[0].vote).toBeNull(); // a refused continue leaves the vote alone
    expect((await core.abVote({ runId: done.runId, vote: 'a' })).run.vote).toBe('a');

    const long = abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Go on forever', maxTokens: 4096 });
    await until(() => long.packets.some((p) => p.type === 'token'));
    await core.abStop({ sessionId: session.id });
    expect(await long.closed).toMatchObject({ type: 'stopped' });
    expect((await core.abHistory({ sessionId: session.id })).runs).toHaveLength(1);
    expect(await answer(core, session.id, 'Still here?')).toMatchObject({ type: 'done', message: { state: 'done' } });

    // cancelling the channel stops a run too
    const cancelled = abStart(core, { sessionId: session.id, a: A, b: B, prompt: 'Go on and on', maxTokens: 4096 });
    await until(() => cancelled.packets.some((p) => p.type === 'token'));
    cancelled.cancel();
    expect(await cancelled.closed).toMatchObject({ type: 'stopped' });
    expect((await core.abHistory({ sessionId: session.id })).runs).toHaveLength(1);
    await core.close();
  });

  it('summarizes the history: wins per policy and median measurements per policy', async () => {
    const { core, session } = await setUp();
    const votes = ['b', 'b', 'a'] as const;
    for (const vote of votes) {
      const done = await abDone(abStart(core, { sessionId: session.id, a: A, b: B, prompt: `Then the road (${vote})`, maxTokens: 5 }));
      await core.abVote({ runId: done.runId, vote });
    }
    // one more, unvoted, in another session: counted in the global history only
    const other = await core.sessionsCreate({ name: 'other', modelId: session.modelId, policy: A });
    await answer(core, other.id, 'Hello there.');
    await abDone(abStart(core, { sessionId: other.id, a: A, b: { ...B, window: 16 }, prompt: 'More', maxTokens: 4 }));

    const { runs, summary } = await core.abHistory({ sessionId: session.id });
    expect(runs.map((r) => r.vote)).toEqual(['a', 'b', 'b']); // newest first
    expect(summary).toMatchObject({ runs: 3, voted: 3, ties: 0 });
    expect(summary.policies.map((p) => [p.key, p.runs, p.wins, p.losses, p.ties])).toEqual([
      ['window:0:24', 3, 2, 1, 0],
      ['sink:4:32', 3, 1, 2, 0],
    ]);
    const median = (xs: number[]) => percentile(xs, 0.5);
    const [win, sink] = summary.policies;
    expect(win.policy).toEqual(B);
    expect(win.medianLatencyP50Ms).toBeCloseTo(median(runs.map((r) => r.b.latencyP50Ms)), 9);
    expect(win.medianLatencyP90Ms).toBeCloseTo(median(runs.map((r) => r.b.latencyP90Ms)), 9);
    expect(win.medianTokensPerSecond).toBeCloseTo(median(runs.map((r) => r.b.tokensPerSecond)), 9);
    expect(sink.medianTranscriptPpl).toBeCloseTo(median(runs.map((r) => r.a.transcriptPpl!)), 9);
    expect(sink.medianKvBytes).toBe(median(runs.map((r) => r.a.kvBytes)));

    const all = await core.abHistory();
    expect(all.summary).toMatchObject({ runs: 4, voted: 3 });
    expect(all.summary.policies.find((p) => p.key === 'sink:4:32')?.runs).toBe(4);
    expect(all.summary.policies.find((p) => p.key === 'window:0:16')).toMatchObject({ runs: 1, wins: 0, losses: 0 });
    await core.close();
  });

  it('validates A/B calls at the router like every other call', async () => {
    const { core, session } = await setUp(4);
    const out: OutgoingEnvelope[] = [];
    const router = createApiRouter(core, (m) => out.push(m));
    /** The error a channel request is refused with, through the wire. */
    const refusal = async (params: unknown) => {
      await router.handle({ id: out.length + 100, method: 'ab.start', params });
      const reply = out.at(-1)!;
      return 'error' in reply ? reply.error.message : 'accepted';
    };
    expect(await refusal({ sessionId: session.id, a: A, b: B, prompt: '   ' })).toMatch(/prompt is empty/);
    expect(await refusal({ sessionId: session.id, a: A, b: { ...B, window: 0 }, prompt: 'x' })).toMatch(/invalid|window/i);
    await expect(router.call('ab.vote', { runId: '1', vote: 'c' as never })).rejects.toThrow(/vote/);
    await expect(router.call('ab.vote', { runId: '999', vote: 'a' })).rejects.toThrow();
    expect(await router.call('ab.history')).toEqual({ runs: [], summary: { runs: 0, voted: 0, ties: 0, policies: [] } });
    router.dispose();
    await core.close();
  });
});
