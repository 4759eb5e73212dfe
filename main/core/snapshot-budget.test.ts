import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinModelDir } from '../models/builtin-model.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { PersistentChat } from './persistent-chat.js';

const POLICY = { name: 'sink' as const, sink: 4, window: 120, evictChunk: 16, pinSystem: false };

describe('snapshot disk budget', () => {
  it('drops the least recently used chats’ snapshots first; they re-read their transcripts, nothing else is lost', async () => {
    const model = await Model.load(builtinModelDir());
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-budget-')), 'chat.db');
    let store = new Store(openDatabase(dbFile));
    const turn = async (chat: PersistentChat, text: string) => {
      for await (const ev of chat.send(text, { maxTokens: 12, ignoreEos: true })) void ev;
    };
    const ids: Record<string, number> = {};
    for (const name of ['a', 'b', 'c']) {
      const chat = await PersistentChat.open(store, model, { name, policy: POLICY, raw: true });
      await turn(chat, `The ${name} chat begins here.`);
      ids[name] = chat.session.id;
      chat.close();
    }
    const usage = store.snapshotBudget.usage();
    expect(usage.map((u) => u.sessionId)).toEqual([ids.a, ids.b, ids.c]); // least recently used first
    const bytesOf = (id: number) => usage.find((u) => u.sessionId === id)!.bytes;
    // room for about two chats' snapshots: c's next turn pushes the oldest chat's out, not b's, never its own
    const budget = bytesOf(ids.b) + 2 * bytesOf(ids.c);
    const c = await PersistentChat.open(store, model, { name: 'c', snapshotBudget: budget, raw: true });
    await turn(c, 'And it goes on.');
    c.close();
    expect(store.listSnapshots(ids.a)).toEqual([]);
    expect(store.chunks.chunkCount(ids.a)).toBe(0);
    expect(store.listSnapshots(ids.b).length).toBeGreaterThan(0);
    expect(store.listSnapshots(ids.c).length).toBeGreaterThan(0);
    expect(store.snapshotBudget.total()).toBeLessThanOrEqual(budget);

    store.db.close();
    store = new Store(openDatabase(dbFile));
    const a = await PersistentChat.open(store, model, { name: 'a', raw: true });
    expect(a.restored).toMatchObject({ kind: 'rebuilt', reread: 2, refused: null });
    expect(store.listMessages(ids.a).map((m) => m.role)).toEqual(['user', 'assistant']);
    a.close();
    const b = await PersistentChat.open(store, model, { name: 'b', raw: true });
    expect(b.restored).toMatchObject({ kind: 'resumed', reread: 0 });
    b.close();
    store.db.close();
    await model.dispose();
  });
});
