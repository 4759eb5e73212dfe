import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

describe('sessions.duplicate', () => {
  it('copies the settings and the branch shown under a free name; the copy runs on its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-dup-'));
    const core = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 6 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const policy = { name: 'sink', sink: 4, window: 120, pinSystem: true } as const;
    const chat = await core.sessionsCreate({ name: 'Original', modelId: model.id, policy, systemPrompt: 'Be brief.' });
    await core.sessionsSetGeneration({ id: chat.id, generation: { temperature: 0.3, seed: 7 } });
    await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: chat.id, text: 'First' }, signal)).closed;
    await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: chat.id, text: 'Second' }, signal)).closed;
    // another version of the last answer: the copy has only the one shown
    await readChannel<ChatPacket>((signal) => core.chatRegenerate({ sessionId: chat.id }, signal)).closed;

    const copy = await core.sessionsDuplicate({ id: chat.id });
    expect(copy).toMatchObject({ name: 'Original (copy)', modelId: model.id, policy, systemPrompt: 'Be brief.', messageCount: 4 });
    expect((await core.sessionsDuplicate({ id: chat.id })).name).toBe('Original (copy 2)');
    const [from, to] = await Promise.all([core.sessionsOpen({ id: chat.id }), core.sessionsOpen({ id: copy.id })]);
    expect(to.messages.map((m) => [m.role, m.text, m.state])).toEqual(from.messages.map((m) => [m.role, m.text, m.state]));
    expect(to.messages.every((m) => !m.siblings || m.siblings.count === 1)).toBe(true);
    expect((await core.sessionsSettings({ id: copy.id })).generation).toMatchObject({ temperature: 0.3, seed: 7 });
    expect(await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: copy.id, text: 'Third' }, signal)).closed).toMatchObject({ type: 'done' });
    expect((await core.sessionsOpen({ id: chat.id })).messages).toHaveLength(4);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
