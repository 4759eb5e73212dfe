import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PerpetuaEvent, PerpetuaEvents } from '../api/perpetua-api.js';
import type { PolicyConfig } from '../api/schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { percentile } from '../eval/percentile.js';
import { createApiRouter } from './api-router.js';
import { CoreService } from './core-service.js';

const A: PolicyConfig = { name: 'sink', sink: 4, window: 32, pinSystem: false };
const B: PolicyConfig = { name: 'window', sink: 0, window: 24, pinSystem: false };

function recorder(core: CoreService) {
  const events: PerpetuaEvent[] = [];
  core.subscribe((e) => events.push(e));
  function waitFor<K extends keyof PerpetuaEvents>(event: K, match: (p: PerpetuaEvents[K]) => boolean): Promise<PerpetuaEvents[K]> {
    return new Promise((resolve) => {
      const check = () => {
        const hit = events.find((e) => e.event === event && match(e.payload as PerpetuaEvents[K]));
        if (hit) resolve(hit.payload as PerpetuaEvents[K]);
        else setTimeout(check, 5);
      };
      check();
    });
  }
  const ended = (abId: string) =>
    Promise.race([waitFor('abDone', (p) => p.abId === abId), waitFor('abAborted', (p) => p.abId === abId)]);
  return { events, waitFor, ended };
}

async function setUp(maxAnswerTokens = 10) {
  const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-ab-')), 'perpetua.db');
  const core = new CoreService({ dbFile, maxAnswerTokens });
  const rec = recorder(core);
  const model = await core.modelsImport({ dir: testModelDir() });
  const session = await core.sessionsCreate({ name: 'trip', modelId: model.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
  const sent = await core.chatSend({ sessionId: session.id, text: 'We packed the car for the long trip north.' });
  await rec.waitFor('messageDone', (p) => p.messageId === sent.assistantMessageId);
  return { core, dbFile, session, ...rec };
}

describe('CoreService A/B runs', () => {
  it('streams both branches, stores the run, keeps the session busy meanwhile and unchanged afterwards', async () => {
    const { core, session, events, waitFor } = await setUp();
    const before = await core.sessionsOpen({ id: session.id });
    const { abId } = await core.abStart({ sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 8 });
    await expect(core.chatSend({ sessionId: session.id, text: 'hello' })).rejects.toThrow(/A\/B comparison/);
    await expect(core.abStart({ sessionId: session.id, a: A, b: B, prompt: 'again' })).rejects.toThrow(/A\/B comparison/);
    const done = await waitFor('abDone', (p) => p.abId === abId);

    const mine = events.filter((e) => 'abId' in e.payload && e.payload.abId === abId);
    for (const branch of ['a', 'b'] as const) {
      const streamed = mine.flatMap((e) => (e.event === 'abToken' && e.payload.branch === branch ? [e.payload.delta] : [])).join('');
      expect(streamed).toBe(done[branch].answer);
      expect(done[branch].answer.length).toBeGreaterThan(0);
      expect(done[branch].tokens).toBeLessThanOrEqual(8);
      expect(done[branch].latencyP90Ms).toBeGreaterThanOrEqual(done[branch].latencyP50Ms);
      expect(done[branch].transcriptPpl).toBeGreaterThan(1);
      expect(done[branch].fork).toBe('forked');
      const phases = mine.flatMap((e) => (e.event === 'abProgress' && e.payload.branch === branch ? [e.payload.phase] : []));
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
    const { core, dbFile, session, waitFor } = await setUp();
    const { abId } = await core.abStart({ sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 8 });
    const done = await waitFor('abDone', (p) => p.abId === abId);
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
    const next = await core.chatSend({ sessionId: session.id, text: 'And then?' });
    expect((await waitFor('messageDone', (p) => p.messageId === next.assistantMessageId)).state).toBe('done');
    expect((await core.abHistory()).runs[0].vote).toBe('b');
    await core.close();

    // a new core finds the session continued from B
    const again = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const reopened = await again.sessionsOpen({ id: session.id });
    expect(reopened.session.policy).toEqual(B);
    expect(reopened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    await again.close();
  });

  it('refuses to continue once the chat moved on, and stops a run without storing it', async () => {
    const { core, session, waitFor, ended } = await setUp();
    const first = await core.abStart({ sessionId: session.id, a: A, b: B, prompt: 'Then the road', maxTokens: 6 });
    const done = await waitFor('abDone', (p) => p.abId === first.abId);
    const sent = await core.chatSend({ sessionId: session.id, text: 'Something else.' });
    await waitFor('messageDone', (p) => p.messageId === sent.assistantMessageId);
    await expect(core.abVote({ runId: done.runId, vote: 'a', continueWith: true })).rejects.toThrow(/moved on/);
    expect((await core.abHistory()).runs[0].vote).toBeNull(); // a refused continue leaves the vote alone
    expect((await core.abVote({ runId: done.runId, vote: 'a' })).run.vote).toBe('a');

    const long = await core.abStart({ sessionId: session.id, a: A, b: B, prompt: 'Go on forever', maxTokens: 4096 });
    await waitFor('abToken', (p) => p.abId === long.abId);
    await core.abStop({ sessionId: session.id });
    expect(await ended(long.abId)).toMatchObject({ state: 'stopped' });
    expect((await core.abHistory({ sessionId: session.id })).runs).toHaveLength(1);
    const after = await core.chatSend({ sessionId: session.id, text: 'Still here?' });
    expect((await waitFor('messageDone', (p) => p.messageId === after.assistantMessageId)).state).toBe('done');
    await core.close();
  });

  it('summarizes the history: wins per policy and median measurements per policy', async () => {
    const { core, session, waitFor } = await setUp();
    const votes = ['b', 'b', 'a'] as const;
    for (const vote of votes) {
      const { abId } = await core.abStart({ sessionId: session.id, a: A, b: B, prompt: `Then the road (${vote})`, maxTokens: 5 });
      const done = await waitFor('abDone', (p) => p.abId === abId);
      await core.abVote({ runId: done.runId, vote });
    }
    // one more, unvoted, in another session: counted in the global history only
    const other = await core.sessionsCreate({ name: 'other', modelId: session.modelId, policy: A });
    const o = await core.chatSend({ sessionId: other.id, text: 'Hello there.' });
    await waitFor('messageDone', (p) => p.messageId === o.assistantMessageId);
    const extra = await core.abStart({ sessionId: other.id, a: A, b: { ...B, window: 16 }, prompt: 'More', maxTokens: 4 });
    await waitFor('abDone', (p) => p.abId === extra.abId);

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
    const router = createApiRouter(core, () => {});
    await expect(router.call('ab.start', { sessionId: session.id, a: A, b: B, prompt: '   ' })).rejects.toThrow(/prompt is empty/);
    await expect(router.call('ab.start', { sessionId: session.id, a: A, b: { ...B, window: 0 }, prompt: 'x' })).rejects.toThrow(/invalid|window/i);
    await expect(router.call('ab.vote', { runId: '1', vote: 'c' as never })).rejects.toThrow(/vote/);
    await expect(router.call('ab.vote', { runId: '999', vote: 'a' })).rejects.toThrow();
    expect(await router.call('ab.history')).toEqual({ runs: [], summary: { runs: 0, voted: 0, ties: 0, policies: [] } });
    router.dispose();
    await core.close();
  });
});
