import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from './database.js';
import { NotFoundError } from './errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { Store } from './store.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-branches-'));
  file = join(dir, 'chats.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SINK = JSON.stringify({ sink: 4, window: 1020, pinSystem: true, evictChunk: 64 });

describe('migration 4 (branches) on a database the previous schema wrote', () => {
  it('makes each old chat one branch: parents are the previous message, the head the last, the transcript unchanged', () => {
    const old = openDatabase(file, { migrations: MIGRATIONS.slice(0, 3) });
    expect(schemaVersion(old)).toBe(3);
    old.exec(`INSERT INTO models (id, name, dir, fingerprint, created_at) VALUES (1, 'Tiny', '/m', 'fp', 1)`);
    for (const [id, name] of [[1, 'first'], [2, 'second']] as const) {
      old.prepare(`INSERT INTO sessions (id, name, model_id, policy, policy_params, created_at, updated_at) VALUES (?, ?, 1, 'sink', ?, 1, 1)`).run(id, name, SINK);
    }
    const insert = old.prepare(`INSERT INTO messages (session_id, seq, role, text, state, created_at, updated_at) VALUES (?, ?, ?, ?, 'done', 1, 1)`);
    ['hello', 'hi there', 'tell me a story', 'once upon a time'].forEach((t, i) => insert.run(1, i + 1, i % 2 ? 'assistant' : 'user', t));
    insert.run(2, 1, 'user', 'alone');
    old.close();

    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    const store = new Store(db);
    const transcript = store.listMessages(1);
    expect(transcript.map((m) => m.text)).toEqual(['hello', 'hi there', 'tell me a story', 'once upon a time']);
    expect(transcript.map((m) => m.parentId)).toEqual([null, ...transcript.slice(0, -1).map((m) => m.id)]);
    expect(transcript.every((m) => m.siblings?.count === 1 && m.siblings.index === 0)).toBe(true);
    expect(db.prepare('SELECT head_message_id FROM sessions ORDER BY id').pluck().all()).toEqual([transcript[3].id, store.listMessages(2)[0].id]);
    // an old chat goes on where it ended
    const next = store.appendMessage(1, { role: 'user', text: 'and then?' });
    expect(next.parentId).toBe(transcript[3].id);
    expect(store.listSessions().find((s) => s.id === 1)?.lastMessage?.text).toBe('and then?');
    db.close();
  });
});

describe('Branches', () => {
  function chat() {
    const db = openDatabase(file);
    const store = new Store(db);
    const model = store.upsertModel({ name: 'Tiny', dir: '/m', fingerprint: 'fp' });
    const s = store.createSession({ name: 'tree', modelId: model.id, policy: 'sink', policyParams: JSON.parse(SINK) });
    const say = (role: 'user' | 'assistant', text: string, parentId?: number | null) => store.appendMessage(s.id, { role, text, parentId });
    return { db, store, s, say };
  }

  it('a new version of a turn becomes the branch shown; switching shows the newest leaf under a version', () => {
    const { db, store, s, say } = chat();
    const u1 = say('user', 'hello');
    const a1 = say('assistant', 'hi');
    const u2 = say('user', 'a story about a cat');
    const a2 = say('assistant', 'the cat sat');
    const u2b = say('user', 'a story about a dog', a1.id); // the user edited their second turn
    const a2b = say('assistant', 'the dog ran');
    expect(store.listMessages(s.id).map((m) => m.id)).toEqual([u1.id, a1.id, u2b.id, a2b.id]);
    // the first messages, read down from the start: up to the turn with versions, and past it
    expect(store.listMessages(s.id, { limit: 2 }).map((m) => m.id)).toEqual([u1.id, a1.id]);
    expect(store.listMessages(s.id, { limit: 3 }).map((m) => m.id)).toEqual([u1.id, a1.id, u2b.id]);
    expect(store.listMessages(s.id, { limit: 9 }).map((m) => m.id)).toEqual([u1.id, a1.id, u2b.id, a2b.id]);
    expect(store.getMessage(u2b.id)?.siblings).toEqual({ index: 1, count: 2 });
    expect(store.branches.versionsOf(u2.id).map((m) => m.id)).toEqual([u2.id, u2b.id]);

    expect(store.branches.showBranchOf(s.id, u2.id)).toBe(true);
    expect(store.listMessages(s.id).map((m) => m.id)).toEqual([u1.id, a1.id, u2.id, a2.id]);
    const a2c = say('assistant', 'the cat slept', u2.id); // regenerated
    expect(store.listMessagesBefore(s.id, Number.MAX_SAFE_INTEGER, 2).map((m) => m.id)).toEqual([u2.id, a2c.id]);
    // on the branch shown already: nothing changes
    expect(store.branches.showBranchOf(s.id, u1.id)).toBe(false);
    // back to the dog, then to the cat: the cat's newest answer comes back, not the first
    store.branches.showBranchOf(s.id, u2b.id);
    store.branches.showBranchOf(s.id, u2.id);
    expect(store.listMessages(s.id).at(-1)?.id).toBe(a2c.id);
    // every branch is searchable
    expect(store.search('dog').map((h) => h.messageId).sort()).toEqual([u2b.id, a2b.id].sort());
    expect(() => store.branches.showBranchOf(s.id + 1, u2.id)).toThrow(NotFoundError);
    // a new version of the very first message: a second first message, and its branch is the one shown
    const hola = say('user', 'hola', null);
    expect(store.listMessages(s.id, { limit: 2 }).map((m) => m.id)).toEqual([hola.id]);
    expect(hola.siblings).toEqual({ index: 1, count: 2 });
    db.close();
  });

  it('deleting a message of the branch shown takes its replies and moves the head to its parent', () => {
    const { db, store, s, say } = chat();
    const u1 = say('user', 'hello');
    const a1 = say('assistant', 'hi');
    say('user', 'more');
    const other = say('assistant', 'hello again', u1.id);
    store.branches.showBranchOf(s.id, a1.id);
    expect(store.listMessages(s.id, { limit: 5 }).map((m) => m.text)).toEqual(['hello', 'hi', 'more']);
    expect(store.deleteMessage(a1.id)).toBe(true);
    expect(store.listMessages(s.id).map((m) => m.id)).toEqual([u1.id]);
    expect(store.branches.tree(s.id).map((m) => m.id)).toEqual([u1.id, other.id]);
    expect(() => store.appendMessage(s.id, { role: 'user', text: 'x', parentId: 9999 })).toThrow(NotFoundError);
    db.close();
  });
});

describe('parent links a damaged page garbled into a cycle', () => {
  it('end the walk along the branch (only to older messages) instead of looping for ever', () => {
    const store = new Store(openDatabase(file));
    const modelId = store.upsertModel({ name: 'm', dir: '/m', fingerprint: 'f' }).id;
    const session = store.createSession({ name: 'loop', modelId, policy: 'sink', policyParams: {} });
    const ids = ['one', 'two', 'three', 'four'].map((text, i) => store.appendMessage(session.id, { role: i % 2 ? 'assistant' : 'user', text }).id);
    // as a damaged page read it: the second message names the last as its parent (39 → … → 14 → 39 in the damage suite)
    store.db.pragma('foreign_keys = OFF');
    store.db.prepare('UPDATE messages SET parent_id = ? WHERE id = ?').run(ids[3], ids[1]);
    expect(store.listMessages(session.id).map((m) => m.text)).toEqual(['two', 'three', 'four']);
    expect(store.listMessagesBefore(session.id, Number.MAX_SAFE_INTEGER, 10).map((m) => m.text)).toEqual(['two', 'three', 'four']);
    expect(store.branches.pathIds(session.id)).toEqual([ids[3], ids[2], ids[1]]);
    store.db.close();
  });
});
