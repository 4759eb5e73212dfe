import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket, PolicyPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

type Started = Extract<ChatPacket, { type: 'started' }>;
type Final = Extract<ChatPacket, { type: 'done' | 'stopped' | 'failed' }>;

/** Sends and waits until the core stored the user's turn: the answer streams on in `answer`. */
async function send(core: CoreService, sessionId: string, text: string) {
  const answer = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId, text }, signal));
  const started = (await answer.started) as Started;
  return { started, answer, done: answer.closed as Promise<Final> };
}

describe('CoreService', () => {
  it('creates a session, streams an answer, switches policy, searches, exports and resumes after a restart', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 12 });
    const model = await core.modelsImport({ dir: testModelDir() });
    expect(model).toMatchObject({ architecture: 'llama', provider: 'cpu' });
    const session = await core.sessionsCreate({
      name: 'Monday',
      modelId: model.id,
      policy: { name: 'sink', sink: 4, window: 60, pinSystem: false },
      systemPrompt: 'Be brief.',
    });
    const sent = await send(core, session.id, 'Tell me about lighthouses.');
    expect(sent.started.user?.text).toBe('Tell me about lighthouses.');
    expect(sent.started.assistant.seq).toBe(sent.started.user!.seq + 1);
    const answer = await sent.done;
    expect(answer.type).toBe('done');
    const streamed = sent.answer.packets.flatMap((p) => (p.type === 'token' ? [p.delta] : []));
    expect(streamed.join('')).toBe(answer.message?.text);
    expect(sent.answer.packets.some((p) => p.type === 'progress')).toBe(true);

    const switching = readChannel<PolicyPacket>((signal) => core.policySet({ sessionId: session.id, policy: { name: 'window', sink: 0, window: 32, pinSystem: false } }, signal));
    const switched = (await switching.closed) as Extract<PolicyPacket, { type: 'done' }>;
    expect(switched.type).toBe('done');
    expect(switched.statement).toMatch(/^Switched from sink \(4 sink \+ 60 recent tokens\) to window \(last 32 tokens\)\./);
    expect(switched.stats.cacheCapacity).toBe(32);
    expect(switched.stats.cacheFill).toBeLessThanOrEqual(32);

    const regen = readChannel<ChatPacket>((signal) => core.chatRegenerate({ sessionId: session.id }, signal));
    expect(((await regen.started) as Started).replacedMessageId).toBe(sent.started.assistant.id);
    expect((await regen.closed).type).toBe('done');

    expect((await core.sessionsSearch({ text: 'lighthouses' })).map((h) => h.sessionName)).toContain('Monday');
    const md = await core.sessionsExportMarkdown({ id: session.id });
    expect(md).toContain('# Monday');
    expect(md).toContain('Tell me about lighthouses.');
    await expect(send(core, session.id, 'x'.repeat(10)).then((r) => r.done)).resolves.toMatchObject({ type: 'done', message: { state: 'done' } });
    await core.close();

    // Thursday: a new core on the same database finds the session and continues it
    const again = new CoreService({ dbFile, maxAnswerTokens: 5 });
    const opened = await again.sessionsOpen({ id: session.id });
    expect(opened.session.policy).toEqual({ name: 'window', sink: 0, window: 32, pinSystem: false });
    expect(opened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(opened.stats.totalTokensSeen).toBeGreaterThan(20);
    const next = await send(again, session.id, 'And on Thursday?');
    expect((await next.done).message?.state).toBe('done');
    await again.close();
  });

  it('stops an answer and refuses a second answer while one streams', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 100_000 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'long', modelId: model.id, policy: { name: 'sink', sink: 4, window: 64, pinSystem: false } });
    const sent = await send(core, session.id, 'Go on forever.');
    await expect(send(core, session.id, 'again')).rejects.toThrow(/still answering/);
    await new Promise((r) => setTimeout(r, 300));
    await core.chatStop({ sessionId: session.id });
    const stopped = await sent.done;
    expect(stopped.type).toBe('stopped');
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.messages.at(-1)).toMatchObject({ state: 'stopped', text: stopped.message?.text });
    await core.close();
  });

  it('stops an answer when its channel is cancelled', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 100_000 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'cancel', modelId: model.id, policy: { name: 'window', sink: 0, window: 48, pinSystem: false } });
    const sent = await send(core, session.id, 'Go on forever.');
    while (!sent.answer.packets.some((p) => p.type === 'token')) await new Promise((r) => setTimeout(r, 20));
    sent.answer.cancel();
    const final = await sent.done;
    expect(final).toMatchObject({ type: 'stopped', message: { id: sent.started.assistant.id, state: 'stopped' } });
    expect(sent.answer.packets.filter((p) => p.type === 'stopped' || p.type === 'done' || p.type === 'failed')).toHaveLength(1);
    // the session is free again as soon as the channel has ended
    const next = await send(core, session.id, 'Next.');
    next.answer.cancel();
    expect(['stopped', 'done']).toContain((await next.done).type);
    await core.close();
  });

  it('answers one spelling of an id only: " 1", "0x1", "1.0" and "1e0" are not session 1', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-ids-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 4 });
    try {
      const model = await core.modelsImport({ dir: testModelDir() });
      const session = await core.sessionsCreate({ name: 'Ids', modelId: model.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
      expect(session.id).toBe('1');
      expect(await core.sessionsExportMarkdown({ id: '1' })).toMatch(/Ids/);
      for (const id of [' 1', '0x1', '1.0', '1e0', '01']) {
        await expect(core.sessionsOpen({ id }), id).rejects.toMatchObject({ code: 'not_found' });
        await expect(core.sessionsExportMarkdown({ id }), id).rejects.toMatchObject({ code: 'not_found' });
        await expect(core.sessionsRename({ id, name: 'x' }), id).rejects.toMatchObject({ code: 'not_found' });
      }
      expect((await core.sessionsList()).map((s) => s.name)).toEqual(['Ids']);
    } finally {
      await core.close();
    }
  });

  it("gives a session's lock back when it closes the session, so another process can write to it", async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-core-locks-')), 'perpetua.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const locks = () => {
      const raw = new Database(dbFile, { readonly: true });
      try {
        return raw.prepare('SELECT session_id AS id, pid FROM session_locks').all();
      } finally {
        raw.close();
      }
    };
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'Locked', modelId: model.id, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
    await core.sessionsOpen({ id: session.id });
    expect(locks()).toEqual([{ id: Number(session.id), pid: process.pid }]);
    // a provider change closes the model's sessions (they reopen on what it runs now)
    await core.modelsSetProvider({ modelId: model.id, provider: 'cpu' });
    expect(locks()).toEqual([]);
    await core.sessionsOpen({ id: session.id });
    expect(locks()).toHaveLength(1);
    await core.close();
    expect(locks()).toEqual([]);
  });
});
