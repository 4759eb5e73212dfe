import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinModelDir } from '../models/builtin-model.js';
import { decodeManifest } from '../cache/snapshot-manifest.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { PersistentChat } from './persistent-chat.js';

/**
 * What chunked snapshots write and keep over a long chat whose cache evicts on every turn: each save writes the
 * turn's rows (and now and then the few live rows of a mostly dead chunk), never the whole cache again; the chunks the
 * kept manifests name stay within twice what the cache holds, the rest are gone; deleting the chat frees them all.
 */
describe('chunked snapshot storage', () => {
  it('appends each turn, compacts dead chunks, bounds what it keeps and frees it with the chat', async () => {
    const model = await Model.load(builtinModelDir());
    const store = new Store(openDatabase(join(mkdtempSync(join(tmpdir(), 'perpetua-chunks-')), 'chat.db')));
    const policy = { name: 'sink' as const, sink: 4, window: 96, evictChunk: 16, pinSystem: false };
    const chat = await PersistentChat.open(store, model, { name: 'long', policy, raw: true });
    const sessionId = chat.session.id;
    let written = 0;
    let seen = 0;
    for (let turn = 0; turn < 40; turn++) {
      const before = chat.engine.policy.totalTokensSeen;
      for await (const ev of chat.send(`Turn ${turn} of the long day went by.`, { maxTokens: 8, ignoreEos: true })) void ev;
      const added = chat.engine.policy.totalTokensSeen - before;
      const cost = chat.lastSave!;
      if (turn > 0) {
        written += cost.rows;
        seen += added;
        // never the whole cache again: the turn's tokens and at most an eighth of a window of compacted rows
        expect(cost.rows).toBeLessThanOrEqual(added + 2 + Math.ceil(policy.window / 8) + policy.sink);
      }
      const m = decodeManifest(store.latestSnapshot(sessionId)!.bytes, { modelFingerprint: model.fingerprint });
      const named = m.chunks.reduce((n, c) => n + c.rows, 0);
      expect(named).toBeLessThanOrEqual(2 * m.tokens.length + 16);
    }
    // over the chat, rows written stay close to the tokens that came in (compaction adds a little)
    expect(written).toBeLessThan(1.5 * seen);
    expect(written).toBeGreaterThanOrEqual(seen - 40);
    // only chunks that a kept manifest names are stored (three manifests kept)
    const kept = store.listSnapshots(sessionId).map((s) => decodeManifest(store.getSnapshot(s.id)!.bytes, { modelFingerprint: model.fingerprint }));
    const namedChunks = new Set(kept.flatMap((m) => m.chunks.map((c) => c.hash)));
    expect(store.chunks.chunkCount(sessionId)).toBe(namedChunks.size);
    expect(store.chunks.bytesUsed(sessionId)).toBeGreaterThan(0);
    chat.close();
    expect(store.deleteSession(sessionId)).toBe(true);
    expect(store.chunks.chunkCount(sessionId)).toBe(0);
    expect(store.chunks.bytesUsed(sessionId)).toBe(0);
    store.db.close();
    await model.dispose();
  });

  it('a branch made by an edit builds on the chunks of what it shares with the branch it forks from', async () => {
    const model = await Model.load(builtinModelDir());
    const store = new Store(openDatabase(join(mkdtempSync(join(tmpdir(), 'perpetua-chunks-')), 'chat.db')));
    const chat = await PersistentChat.open(store, model, { name: 'fork', policy: { name: 'sink', sink: 4, window: 200, evictChunk: 16, pinSystem: false } });
    const greedy = { maxTokens: 8, ignoreEos: true, sampling: { temperature: 0 } };
    for await (const ev of chat.send('Once upon a time', greedy)) void ev;
    const manifest = () => decodeManifest(store.latestSnapshot(chat.session.id)!.bytes, { modelFingerprint: model.fingerprint });
    const first = manifest().chunks.map((c) => c.hash);
    for await (const ev of chat.send('The cat', greedy)) void ev;
    const u2 = store.listMessages(chat.session.id)[2];
    for await (const ev of chat.edit(u2.id, 'The dog', greedy)) void ev;
    expect(chat.restored).toMatchObject({ kind: 'resumed', reread: 0 });
    // the edited branch's snapshot names the first turn's chunk and adds only its own turn
    const edited = manifest();
    expect(edited.chunks.map((c) => c.hash)).toEqual(expect.arrayContaining(first));
    expect(chat.lastSave!.rows).toBeLessThan(edited.tokens.length - 4);
    chat.close();
    store.db.close();
    await model.dispose();
  });
});
