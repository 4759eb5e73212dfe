import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { runMain } from './fixtures/cli-process.js';

it('perpetua export writes every branch of a chat, each message with the seq of the one it follows, after the chat\'s own line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-export-'));
  const db = join(dir, 'chats.db');
  const store = new Store(openDatabase(db));
  const model = store.upsertModel({ name: 'Tiny', dir: '/m', fingerprint: 'fp' });
  const s = store.createSession({ name: 'tree', modelId: model.id, policy: 'window', policyParams: { window: 64 }, systemPrompt: 'Be brief.' });
  store.updateSessionGeneration(s.id, { temperature: 0.2 });
  const hello = store.appendMessage(s.id, { role: 'user', text: 'hello' });
  store.appendMessage(s.id, { role: 'assistant', text: 'hi' });
  store.appendMessage(s.id, { role: 'assistant', text: 'hi again', parentId: hello.id }); // a regenerated answer
  store.db.close();
  const out = join(dir, 'chats.jsonl');
  const r = await runMain(['export', '--db', db, '--out', out]);
  expect(r.code).toBe(0);
  const [own, ...lines] = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  // the chat's own line first: its settings and the message it shows (the regenerated answer, written last)
  expect(own).toEqual({ session: 'tree', systemPrompt: 'Be brief.', generation: { temperature: 0.2 }, shown: 3 });
  expect(lines.map(({ seq, parent, text }) => ({ seq, parent, text }))).toEqual([
    { seq: 1, parent: null, text: 'hello' },
    { seq: 2, parent: 1, text: 'hi' },
    { seq: 3, parent: 1, text: 'hi again' },
  ]);
});
