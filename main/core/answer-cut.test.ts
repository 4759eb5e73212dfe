import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

describe('an answer cut at its length limit', () => {
  it('is marked cut: length in its stats, in the final packet and after a reopen; one that ends before the limit is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-cut-'));
    const core = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 6 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'Cut', modelId: model.id, policy: { name: 'sink', sink: 4, window: 120, pinSystem: false } });
    const done = (await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text: 'Once upon a time' }, signal)).closed) as Extract<ChatPacket, { type: 'done' }>;
    expect(done.type).toBe('done');
    expect(done.message.stats).toMatchObject({ tokens: 6, cut: 'length' });
    expect((await core.sessionsOpen({ id: session.id })).messages.at(-1)!.stats?.cut).toBe('length');
    // a generous limit: the tiny model's answer ends another way, or at the limit; only the limit marks it
    await core.sessionsSetGeneration({ id: session.id, generation: { maxTokens: 200 } });
    const longer = (await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text: 'and then' }, signal)).closed) as Extract<ChatPacket, { type: 'done' }>;
    expect(longer.message.stats?.cut === 'length').toBe(longer.message.stats!.tokens >= 200);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('continues as a new answer after it, read with it when the chat is rebuilt; only a finished last answer can be continued', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-continue-'));
    const dbFile = join(dir, 'p.db');
    let core = new CoreService({ dbFile, maxAnswerTokens: 6 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'Go on', modelId: model.id, policy: { name: 'sink', sink: 4, window: 120, pinSystem: false } });
    const first = (await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text: 'Once upon a time' }, signal)).closed) as Extract<ChatPacket, { type: 'done' }>;
    const more = readChannel<ChatPacket>((signal) => core.chatContinue({ sessionId: session.id }, signal));
    const started = (await more.started) as Extract<ChatPacket, { type: 'started' }>;
    expect(started.user).toBeNull();
    expect(started.assistant.parentId).toBe(first.message.id);
    expect((await more.closed).type).toBe('done');
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'assistant']);
    await core.close();
    // a new core re-reads the transcript (both parts of the answer) and goes on
    core = new CoreService({ dbFile, maxAnswerTokens: 6 });
    const after = await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text: 'and then' }, signal)).closed;
    expect(after.type).toBe('done');
    // a chat without an answer at its end has nothing to continue
    const empty = await core.sessionsCreate({ name: 'Empty', modelId: model.id, policy: { name: 'sink', sink: 4, window: 120, pinSystem: false } });
    const refused = readChannel<ChatPacket>((signal) => core.chatContinue({ sessionId: empty.id }, signal));
    refused.started.catch(() => {});
    await expect(refused.closed).rejects.toMatchObject({ code: 'invalid_input' });
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
