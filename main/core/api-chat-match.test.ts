import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CompletionPacket } from '../api/completion-schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

describe('chat.complete matching a stored API chat', () => {
  it('among chats that cover the request equally, continues the most recent one, even when an older one is pinned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-api-match-'));
    const dbFile = join(dir, 'p.db');
    let core = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const modelId = Number((await core.modelsImport({ dir: testModelDir() })).id);
    await core.close();
    // two API chats with the same transcript; the older one pinned (the chat list shows it first)
    const store = new Store(openDatabase(dbFile));
    const chats = ['older', 'newer'].map((name, i) => {
      const s = store.createSession({ name, modelId, policy: 'sink', policyParams: { sink: 4, window: 120 }, origin: 'api' });
      store.appendMessage(s.id, { role: 'user', text: 'Hello' });
      store.appendMessage(s.id, { role: 'assistant', text: 'Hi there.' });
      store.db.prepare('UPDATE sessions SET updated_at = ? WHERE id = ?').run(1000 + i, s.id);
      return s.id;
    });
    store.setSessionPinned(chats[0], true);
    expect(store.listSessions().map((s) => s.name)).toEqual(['older', 'newer']);
    store.db.close();

    core = new CoreService({ dbFile, maxAnswerTokens: 4 });
    const messages = [
      { role: 'user' as const, content: 'Hello' },
      { role: 'assistant' as const, content: 'Hi there.' },
      { role: 'user' as const, content: 'Go on.' },
    ];
    const reply = readChannel<CompletionPacket>((signal) => core.chatComplete({ messages }, signal));
    await reply.closed;
    const counts = await Promise.all(chats.map(async (id) => (await core.sessionsOpen({ id: String(id) })).messages.length));
    expect(counts).toEqual([2, 4]); // the newer chat got the turn and its answer
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
