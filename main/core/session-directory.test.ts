import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import type { ChatPacket } from '../api/packets.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

async function setUp(maxAnswerTokens = 6) {
  const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-open-')), 'perpetua.db');
  const core = new CoreService({ dbFile, maxAnswerTokens });
  const model = await core.modelsImport({ dir: testModelDir() });
  const policy = { name: 'sink', sink: 4, window: 64, pinSystem: false } as const;
  const create = (name: string) => core.sessionsCreate({ name, modelId: model.id, policy });
  return { core, dbFile, model, create };
}

describe('opening sessions', () => {
  it('keeps the provider the user chose for the model', async () => {
    const { core, model, create } = await setUp();
    await core.modelsSetProvider({ modelId: model.id, provider: 'webgpu' });
    const session = await create('gpu chat');
    await core.sessionsOpen({ id: session.id });
    expect((await core.modelsList()).find((m) => m.id === model.id)?.provider).toBe('webgpu');
    await core.close();
  });

  it('leaves the answer another session is streaming alone', async () => {
    const { core, dbFile, create } = await setUp(100_000);
    const busy = await create('streaming');
    const quiet = await create('quiet');
    const sent = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: busy.id, text: 'Once upon a time' }, signal));
    const started = (await sent.started) as Extract<ChatPacket, { type: 'started' }>;
    await core.sessionsOpen({ id: quiet.id });
    const peek = openDatabase(dbFile);
    const live = new Store(peek).listMessages(Number(busy.id)).find((m) => String(m.id) === started.assistant.id);
    peek.close();
    expect(live?.state).toBe('streaming');
    sent.cancel();
    await sent.closed;
    await core.close();
  });

  it('marks answers a crashed core left streaming as stopped when the core starts', async () => {
    const { core, dbFile, create } = await setUp();
    const s = await create('crashed');
    const store = new Store(openDatabase(dbFile));
    const user = store.appendMessage(Number(s.id), { role: 'user', text: 'hi' });
    store.appendMessage(Number(s.id), { role: 'assistant', text: 'half an ans', state: 'streaming' });
    store.db.close();
    await core.close();
    const again = new CoreService({ dbFile });
    const opened = await again.sessionsOpen({ id: s.id });
    expect(opened.messages.map((m) => [m.id === String(user.id) ? 'user' : 'answer', m.state])).toEqual([['user', 'done'], ['answer', 'stopped']]);
    await again.close();
  });
});
