import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PerpetuaEvent } from '../api/perpetua-api.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';

function recorder(core: CoreService) {
  const events: PerpetuaEvent[] = [];
  core.subscribe((e) => events.push(e));
  const done = (messageId: string) =>
    new Promise<Extract<PerpetuaEvent, { event: 'messageDone' }>['payload']>((resolve) => {
      const check = () => {
        const hit = events.find((e) => e.event === 'messageDone' && e.payload.messageId === messageId);
        if (hit && hit.event === 'messageDone') resolve(hit.payload);
        else setTimeout(check, 5);
      };
      check();
    });
  return { events, done };
}

describe('CoreService', () => {
  it('creates a session, streams an answer, switches policy, searches, exports and resumes after a restart', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 12 });
    const { events, done } = recorder(core);
    const model = await core.modelsImport({ dir: testModelDir() });
    expect(model).toMatchObject({ architecture: 'llama', provider: 'cpu' });
    const session = await core.sessionsCreate({
      name: 'Monday',
      modelId: model.id,
      policy: { name: 'sink', sink: 4, window: 60, pinSystem: false },
      systemPrompt: 'Be brief.',
    });
    const sent = await core.chatSend({ sessionId: session.id, text: 'Tell me about lighthouses.' });
    expect(sent.userMessage.text).toBe('Tell me about lighthouses.');
    const answer = await done(sent.assistantMessageId);
    expect(answer.state).toBe('done');
    const streamed = events.flatMap((e) => (e.event === 'token' && e.payload.messageId === sent.assistantMessageId ? [e.payload.delta] : []));
    expect(streamed.join('')).toBe(answer.text);
    expect(events.some((e) => e.event === 'prefillProgress')).toBe(true);

    const switched = await core.policySet({ sessionId: session.id, policy: { name: 'window', sink: 0, window: 32, pinSystem: false } });
    expect(switched.statement).toMatch(/^Switched from sink \(4 sink \+ 60 recent tokens\) to window \(last 32 tokens\)\./);
    expect(switched.stats.cacheCapacity).toBe(32);
    expect(switched.stats.cacheFill).toBeLessThanOrEqual(32);

    const regen = await core.chatRegenerate({ sessionId: session.id });
    expect(regen.replacedMessageId).toBe(sent.assistantMessageId);
    expect((await done(regen.assistantMessageId)).state).toBe('done');

    expect((await core.sessionsSearch({ text: 'lighthouses' })).map((h) => h.sessionName)).toContain('Monday');
    const md = await core.sessionsExportMarkdown({ id: session.id });
    expect(md).toContain('# Monday');
    expect(md).toContain('Tell me about lighthouses.');
    await expect(core.chatSend({ sessionId: session.id, text: 'x'.repeat(10) }).then((r) => done(r.assistantMessageId))).resolves.toMatchObject({ state: 'done' });
    await core.close();

    // Thursday: a new core on the same database finds the session and continues it
    const again = new CoreService({ dbFile, maxAnswerTokens: 5 });
    const rec = recorder(again);
    const opened = await again.sessionsOpen({ id: session.id });
    expect(opened.session.policy).toEqual({ name: 'window', sink: 0, window: 32, pinSystem: false });
    expect(opened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(opened.stats.totalTokensSeen).toBeGreaterThan(20);
    const next = await again.chatSend({ sessionId: session.id, text: 'And on Thursday?' });
    expect((await rec.done(next.assistantMessageId)).state).toBe('done');
    await again.close();
  });

  it('stops an answer and refuses a second answer while one streams', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 100_000 });
    const { done } = recorder(core);
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'long', modelId: model.id, policy: { name: 'sink', sink: 4, window: 64, pinSystem: false } });
    const sent = await core.chatSend({ sessionId: session.id, text: 'Go on forever.' });
    await expect(core.chatSend({ sessionId: session.id, text: 'again' })).rejects.toThrow(/still answering/);
    await new Promise((r) => setTimeout(r, 300));
    await core.chatStop({ sessionId: session.id });
    const stopped = await done(sent.assistantMessageId);
    expect(stopped.state).toBe('stopped');
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.messages.at(-1)).toMatchObject({ state: 'stopped', text: stopped.text });
    await core.close();
  });
});
