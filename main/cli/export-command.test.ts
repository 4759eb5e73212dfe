import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { runMain } from './fixtures/cli-process.js';

it('perpetua export writes every branch of a chat, each message with the seq of the one it follows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-export-'));
  const db = join(dir, 'chats.db');
  const store = new Store(openDatabase(db));
  const model = store.upsertModel({ name: 'Tiny', dir: '/m', fingerprint: 'fp' });
  const s = store.createSession({ name: 'tree', modelId: model.id, policy: 'window', policyParams: { window: 64 } });
  const hello = store.appendMessage(s.id, { role: 'user', text: 'hello' });
  store.appendMessage(s.id, { role: 'assistant', text: 'hi' });
  store.appendMessage(s.id, { role: 'assistant', text: 'hi again', parentId: hello.id }); // a regenerated answer
  store.db.close();
  const out = join(dir, 'chats.jsonl');
  const r = await runMain(['export', '--db', db, '--out', out]);
  expect(r.code).toBe(0);
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map(({ seq, parent, text }) => ({ seq, parent, text }))).toEqual([
    { seq: 1, parent: null, text: 'hello' },
    { seq: 2, parent: 1, text: 'hi' },
    { seq: 3, parent: 1, text: 'hi again' },
  ]);
});
