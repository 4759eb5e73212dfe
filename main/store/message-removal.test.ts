import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../shared/errors.js';
import { openDatabase } from './database.js';
import { Store } from './store.js';
import type { Role } from './types.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-removal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function chat() {
  const db = openDatabase(join(dir, 'chats.db'));
  const store = new Store(db);
  const model = store.upsertModel({ name: 'Tiny', dir: '/m', fingerprint: 'fp' });
  const s = store.createSession({ name: 'c', modelId: model.id, policy: 'window', policyParams: { window: 64 } });
  const say = (role: Role, text: string, parentId?: number | null) => store.appendMessage(s.id, { role, text, parentId });
  const shown = () => store.listMessages(s.id).map((m) => m.text);
  const tree = () => store.branches.tree(s.id).map((m) => [m.text, m.parentId === null ? null : store.getMessage(m.parentId)!.text]);
  return { db, store, s, say, shown, tree };
}

describe('deleting one message', () => {
  it('takes out only that message: the replies after it follow the one before it; undo puts it back exactly', () => {
    const { db, store, s, say, shown, tree } = chat();
    say('user', 'hello');
    const a1 = say('assistant', 'secret answer');
    say('user', 'more');
    say('assistant', 'last');
    store.saveSnapshot(s.id, a1.id, new Uint8Array([1, 2, 3]));
    const before = store.branches.tree(s.id);

    const removal = store.removals.remove(a1.id);
    expect(shown()).toEqual(['hello', 'more', 'last']);
    expect(store.search('secret')).toEqual([]);
    expect(store.listSnapshots(s.id)).toEqual([]); // every snapshot held its text

    store.removals.restore(removal);
    expect(shown()).toEqual(['hello', 'secret answer', 'more', 'last']);
    expect(store.branches.tree(s.id)).toEqual(before);
    expect(tree()).toEqual([['hello', null], ['secret answer', 'hello'], ['more', 'secret answer'], ['last', 'more']]);
    expect(store.search('secret').map((h) => h.messageId)).toEqual([a1.id]);
    db.close();
  });

  it('takes the last message of the branch shown: its parent becomes the head', () => {
    const { db, store, say, shown } = chat();
    say('user', 'hello');
    const last = say('assistant', 'hi');
    store.removals.remove(last.id);
    expect(shown()).toEqual(['hello']);
    db.close();
  });

  it('takes a version with the replies under it and shows the neighbouring version; undo shows it again', () => {
    const { db, store, s, say, shown } = chat();
    const u1 = say('user', 'hello');
    say('assistant', 'first try');
    const second = say('assistant', 'second try', u1.id);
    say('user', 'after the second');
    expect(shown()).toEqual(['hello', 'second try', 'after the second']);

    const removal = store.removals.remove(second.id);
    expect(shown()).toEqual(['hello', 'first try']);
    expect(store.branches.tree(s.id).map((m) => m.text)).toEqual(['hello', 'first try']);
    store.removals.restore(removal);
    expect(shown()).toEqual(['hello', 'second try', 'after the second']);
    expect(store.getMessage(second.id)!.siblings).toEqual({ index: 1, count: 2 });
    db.close();
  });

  it('a version that is not shown goes without changing what is shown', () => {
    const { db, store, say, shown } = chat();
    const u1 = say('user', 'hello');
    const first = say('assistant', 'first try');
    say('assistant', 'second try', u1.id);
    store.removals.remove(first.id);
    expect(shown()).toEqual(['hello', 'second try']);
    expect(store.listMessages(1)[1]!.siblings).toEqual({ index: 0, count: 1 });
    db.close();
  });

  it('the first message: its reply becomes the first', () => {
    const { db, store, say, shown } = chat();
    const u1 = say('user', 'hello');
    const a1 = say('assistant', 'hi');
    store.removals.remove(u1.id);
    expect(shown()).toEqual(['hi']);
    expect(store.getMessage(a1.id)!.parentId).toBeNull();
    db.close();
  });

  it('undo is refused (stale) once the chat moved on, and changes nothing', () => {
    const { db, store, say, shown } = chat();
    say('user', 'hello');
    const a1 = say('assistant', 'hi');
    const removal = store.removals.remove(a1.id);
    say('user', 'a new message');
    let code: string | undefined;
    try {
      store.removals.restore(removal);
    } catch (err) {
      code = errorCode(err);
    }
    expect(code).toBe('stale');
    expect(shown()).toEqual(['hello', 'a new message']);
    db.close();
  });
});
