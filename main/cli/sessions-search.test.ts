/**
 * `perpetua sessions --search` answers with the app's search (core/session-queries.ts): the same hits in the same
 * order, with the same highlights ([brackets] on a terminal), for Chinese words inside sentences too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchSessions } from '../core/session-queries.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { runMain } from './fixtures/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-cli-search-'));
const db = join(dir, 'chats.db');

beforeAll(() => {
  const store = new Store(openDatabase(db));
  const model = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' });
  const policyParams = { sink: 4, window: 1020, pinSystem: false, evictChunk: 64 };
  const a = store.createSession({ name: '滑动窗口笔记', modelId: model.id, policy: 'sink', policyParams });
  const b = store.createSession({ name: 'Germans', modelId: model.id, policy: 'sink', policyParams });
  store.appendMessage(a.id, { role: 'user', text: '注意力汇聚是流式语言模型的关键，我们今天讨论滑动窗口' });
  store.appendMessage(a.id, { role: 'assistant', text: '窗口越大，记住的越多。' });
  store.appendMessage(b.id, { role: 'user', text: 'The Germans built a sliding-window cache.' });
  store.db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('perpetua sessions --search', () => {
  it.each(['窗口', '滑动窗口', '流式', 'erman', '窗 关键'])('agrees with the app for %s', async (query) => {
    const store = new Store(openDatabase(db, { readOnly: true }));
    const app = searchSessions(store, query);
    store.db.close();
    expect(app.length).toBeGreaterThan(0);
    const expected = app.map((h) => {
      const snippet = h.snippet.replaceAll('\u0002', '[').replaceAll('\u0003', ']');
      return h.seq === null ? `${h.sessionName} (name): ${snippet}` : `${h.sessionName} #${h.seq} (${h.role}): ${snippet}`;
    });
    const r = await runMain(['sessions', '--db', db, '--search', query]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(expected);
  });

  it('highlights the word inside the Chinese sentence', async () => {
    const r = await runMain(['sessions', '--db', db, '--search', '窗口']);
    expect(r.stdout).toContain('滑动窗口笔记 #1 (user): 注意力汇聚是流式语言模型的关键，我们今天讨论滑动[窗口]');
    expect(r.stdout).toContain('滑动窗口笔记 (name): 滑动[窗口]笔记');
  });
});
