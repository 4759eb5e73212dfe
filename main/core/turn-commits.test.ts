import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinModelDir } from '../models/builtin-model.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { walFrames } from '../store/fixtures/wal-frames.js';
import { Store } from '../store/store.js';
import { PersistentChat } from './persistent-chat.js';

/**
 * Every commit rewrites each page it touches (the session's row, its index entries, the messages' and the search
 * index's pages), so a turn writes its transcript in as few commits as crash safety allows: the user's turn with the
 * empty answer after it, then the answer's end with the session's token count (a short answer needs no commit between).
 */
describe('commits per turn', () => {
  it('a turn writes its transcript in two commits (and its streaming ones, if any)', async () => {
    const model = await Model.load(builtinModelDir());
    const file = join(mkdtempSync(join(tmpdir(), 'perpetua-commits-')), 'chat.db');
    const store = new Store(openDatabase(file));
    store.db.pragma('wal_autocheckpoint = 0'); // the WAL holds every commit of the test
    const chat = await PersistentChat.open(store, model, { name: 'commits', raw: true, snapshotFormat: 'none' });
    for await (const ev of chat.send('The first turn.', { maxTokens: 4, ignoreEos: true })) void ev;
    // the session's row is one page; only the turn's start and end touch it (a slow machine may add streaming commits,
    // which write the answer's text alone)
    const sessionPage = store.db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'sessions'").pluck().get() as number;
    for (let turn = 0; turn < 3; turn++) {
      const before = walFrames(file).commits;
      const seen = store.getSession(chat.session.id)!.totalTokensSeen;
      for await (const ev of chat.send(`Turn ${turn} went by.`, { maxTokens: 4, ignoreEos: true })) void ev;
      const commits = walFrames(file).transactions.slice(before);
      expect(commits.filter((pages) => pages.includes(sessionPage))).toHaveLength(2);
      // what the two commits hold: both messages, the answer finished, the session's count
      const [user, answer] = store.listMessages(chat.session.id).slice(-2);
      expect([user!.role, user!.text, answer!.role, answer!.state]).toEqual(['user', `Turn ${turn} went by.`, 'assistant', 'done']);
      expect(answer!.tokenCount).toBe(4);
      expect(store.getSession(chat.session.id)!.totalTokensSeen).toBe(chat.engine.policy.totalTokensSeen);
      expect(chat.engine.policy.totalTokensSeen).toBeGreaterThan(seen);
    }
    chat.close();
    store.db.close();
    await model.dispose();
  });
});
