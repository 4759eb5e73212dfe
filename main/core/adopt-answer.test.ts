import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { PersistentChat } from './persistent-chat.js';

const SINK: PolicySpec = { name: 'sink', sink: 4, window: 60, evictChunk: 16, pinSystem: false };
const WINDOW: PolicySpec = { name: 'window', sink: 0, window: 24, evictChunk: 4, pinSystem: false };

describe('continuing from a stored A/B answer (its forked cache gone)', () => {
  it('stopped, leaves the chat as it was; done, the answer joins it and the cache is what its transcript reads into', async () => {
    const store = new Store(openDatabase(join(mkdtempSync(join(tmpdir(), 'perpetua-adopt-')), 'chat.db')));
    const model = await Model.load(testModelDir());
    const chat = await PersistentChat.open(store, model, { name: 'trip', policy: SINK });
    const id = chat.session.id;
    // a conversation read from its text (so a read from nothing can be compared with it), saved as a snapshot
    store.appendMessage(id, { role: 'user', text: 'We packed the car for the long trip north, with the dog and the tent.' });
    const answer = store.appendMessage(id, { role: 'assistant', text: 'The dog slept all the way while the rain came and went.' });
    await chat.restore();
    await chat.saveSnapshot(answer.id);
    const before = store.listMessages(id);
    const seen = chat.session.totalTokensSeen;

    const stopped = new AbortController();
    stopped.abort();
    await expect(chat.adoptAnswer('Then the road', ' turned toward the sea.', WINDOW, { signal: stopped.signal })).rejects.toThrow();
    expect(store.listMessages(id)).toEqual(before);
    expect(store.getSession(id)?.policy).toBe('sink');
    expect(chat.engine.policy.spec).toEqual(SINK);

    // from the chat's snapshot, derived into the window policy: only the new turn is read
    expect(await chat.adoptAnswer('Then the road', ' turned toward the sea.', WINDOW)).toMatchObject({ kind: 'resumed', reread: 2 });
    expect(store.listMessages(id).slice(-2).map((m) => [m.role, m.text])).toEqual([
      ['user', 'Then the road'],
      ['assistant', ' turned toward the sea.'],
    ]);
    expect(store.getSession(id)?.policy).toBe('window');
    expect(chat.engine.policy.spec).toEqual(WINDOW);
    expect(chat.session.totalTokensSeen).toBeGreaterThan(seen);
    const adopted = chat.engine.policy.contents();
    chat.close();

    // the same transcript read from nothing under that policy ends with the same tokens at the same places (evicting in
    // other steps, one may hold a few older tokens more)
    store.deleteSnapshots(id);
    const fresh = await PersistentChat.open(store, model, { name: 'trip', id });
    expect(fresh.restored.kind).toBe('rebuilt');
    const read = fresh.engine.policy.contents();
    expect(adopted.tokens.length).toBeGreaterThan(16); // a window of 24, evicting 4 at a time
    const n = Math.min(adopted.tokens.length, read.tokens.length);
    expect(adopted.tokens.slice(-n)).toEqual(read.tokens.slice(-n));
    expect(adopted.originalPositions.slice(-n)).toEqual(read.originalPositions.slice(-n));
    expect(adopted.totalTokensSeen).toBe(read.totalTokensSeen);
    fresh.close();
    store.db.close();
  });
});
