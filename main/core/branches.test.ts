import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinModelDir } from '../models/builtin-model.js';
import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import type { Message } from '../store/types.js';
import { PersistentChat, type SessionEvent } from './persistent-chat.js';
import { exportMarkdown } from './session-queries.js';
import { restoreNewestSnapshot } from './snapshot-restore.js';

const SINK: PolicySpec = { name: 'sink', sink: 4, window: 200, evictChunk: 16, pinSystem: false };
/** greedy, so an answer written again from the same cache is the same answer */
const GREEDY = { maxTokens: 8, ignoreEos: true, sampling: { temperature: 0 } };

let model: Model;
let store: Store;
beforeAll(async () => {
  // the built-in model writes words (the random test model's tokens mostly decode to nothing): answers to compare
  model = await Model.load(builtinModelDir());
  store = new Store(openDatabase(join(mkdtempSync(join(tmpdir(), 'perpetua-branches-')), 'chat.db')));
});
afterAll(async () => {
  store.db.close();
  await model.dispose();
});

/** Runs one answer; returns its stored user message (if any) and answer. */
async function turn(events: AsyncGenerator<SessionEvent>): Promise<{ user: Message | null; answer: Message }> {
  let started: { user: Message | null; assistant: Message } | undefined;
  for await (const ev of events) if (ev.type === 'started') started = ev;
  return { user: started!.user, answer: store.getMessage(started!.assistant.id)! };
}

const texts = (chat: PersistentChat) => store.listMessages(chat.session.id).map((m) => m.text);

describe('branches of a chat (real model, real SQLite)', () => {
  it('edits and regenerates any message as a new version, rebuilds the cache from the fork point, and switches branches', async () => {
    // every snapshot kept, so each branch has its own to come back to
    const chat = await PersistentChat.open(store, model, { name: 'tree', policy: SINK, keepSnapshots: 10 });
    const u1 = (await turn(chat.send('Once upon a time', GREEDY))).user!;
    const a1 = store.listMessages(chat.session.id)[1];
    const { user: u2, answer: a2 } = await turn(chat.send('The cat', GREEDY));

    // a new version of the first answer: the cache goes back to the first turn, so greedy decoding writes it again
    const a1b = (await turn(chat.regenerate(GREEDY, a1.id))).answer;
    expect(a1b.text).toBe(a1.text);
    expect(a1b.parentId).toBe(u1.id);
    expect(store.getMessage(a1b.id)?.siblings).toEqual({ index: 1, count: 2 });
    expect(texts(chat)).toEqual(['Once upon a time', a1.text]);
    expect(chat.restored).toMatchObject({ kind: 'rebuilt', reread: 1 }); // no snapshot lies before the fork point

    // a new version of the second turn (off the branch shown): resumed from the snapshot written after the first answer
    const edited = await turn(chat.edit(u2!.id, 'The cat', GREEDY));
    expect(chat.restored).toMatchObject({ kind: 'resumed', reread: 0, refused: null });
    expect(edited.answer.text).toBe(a2.text);
    expect(edited.user?.siblings).toEqual({ index: 1, count: 2 });
    expect(store.listMessages(chat.session.id).map((m) => m.id)).toEqual([u1.id, a1.id, edited.user!.id, edited.answer.id]);
    const dog = await turn(chat.edit(u2!.id, 'The dog', GREEDY));
    expect(store.getMessage(dog.user!.id)?.siblings).toEqual({ index: 2, count: 3 });

    // back to the first version of the second turn: its answer, and the cache to go on from it
    expect(await chat.showBranch(u2!.id)).toMatchObject({ kind: 'resumed', reread: 0 });
    expect(store.listMessages(chat.session.id).map((m) => m.id)).toEqual([u1.id, a1.id, u2!.id, a2.id]);
    // what the conversation has seen is what this branch holds, not every branch's tokens together
    expect(store.getSession(chat.session.id)!.totalTokensSeen).toBe(chat.engine.policy.totalTokensSeen);
    expect(await chat.showBranch(u2!.id)).toBeNull(); // shown already
    const next = await turn(chat.send('And then?', GREEDY));

    // the same conversation never branched answers the same
    const line = await PersistentChat.open(store, model, { name: 'line', policy: SINK });
    for (const text of ['Once upon a time', 'The cat', 'And then?']) await turn(line.send(text, GREEDY));
    expect(texts(line)).toEqual(texts(chat));
    expect(next.answer.text.length).toBeGreaterThan(0);

    // version k of a message, counted from 0; a clear refusal past the last
    await chat.showBranch(u2!.id, 2);
    expect(texts(chat)).toEqual(['Once upon a time', a1.text, 'The dog', dog.answer.text]);
    await expect(chat.showBranch(u2!.id, 3)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(chat.edit(a1.id, 'x', GREEDY).next()).rejects.toMatchObject({ code: 'invalid_input' });

    // the export holds the branch shown, then every other one with where it forks
    const md = exportMarkdown(store, chat.session.id);
    const [shown, others] = md.split('## Other branches');
    expect(shown).toContain('The dog');
    expect(others.match(/^### .*$/gm)).toEqual([
      '### Another version of message 3 (forks after message 2)',
      '### Another version of message 2 (forks after message 1)',
      '### Another version of message 3 (forks after message 2)',
    ]);
    expect(others).toContain('And then?');
    line.close();
    chat.close();
  });

  it('derives a snapshot of another cache policy into the session\'s (forkCache) when a branch is rebuilt', async () => {
    const chat = await PersistentChat.open(store, model, { name: 'fork', policy: SINK });
    await turn(chat.send('Once upon a time', GREEDY));
    const context = store.listMessages(chat.session.id).map((m) => m.id);
    chat.close();
    const window: PolicySpec = { name: 'window', sink: 0, window: 64, evictChunk: 16, pinSystem: false };
    const engine = new Engine(model, createPolicy(window, model.config, model.kvEditor));
    const forked = await restoreNewestSnapshot(store, engine, chat.session.id, { context, fork: true });
    expect(forked).toEqual({ coveredId: context[1], refused: null, base: null });
    expect(engine.policy.length).toBe(store.getSession(chat.session.id)!.totalTokensSeen);
    // without fork, the same snapshot is refused (and, unusable for good, dropped)
    const again = new Engine(model, createPolicy(window, model.config, model.kvEditor));
    const refused = await restoreNewestSnapshot(store, again, chat.session.id, { context });
    expect(refused).toMatchObject({ coveredId: undefined, refused: { code: 'snapshot_mismatch' } });
    engine.policy.dispose();
    again.policy.dispose();
  });
});
