import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from './database.js';
import { MessageWriterClosedError } from './errors.js';
import { StreamingMessageWriter } from './message-writer.js';
import { Store } from './store.js';
import { walFrames } from './fixtures/wal-frames.js';

let dir: string;
let db: Db;
let reader: Database.Database;
let store: Store;
let sessionId: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-writer-'));
  const file = join(dir, 'chats.db');
  db = openDatabase(file);
  store = new Store(db);
  const model = store.upsertModel({ name: 'tiny', dir: '/m', fingerprint: 'fp' });
  sessionId = store.createSession({ name: 's', modelId: model.id, policy: 'sink', policyParams: {} }).id;
  // A second connection, like another process reading what survived.
  reader = new Database(file, { readonly: true });
});
afterEach(() => {
  reader.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const onDisk = (id: number): { text: string; state: string; token_count: number } =>
  reader.prepare('SELECT text, state, token_count FROM messages WHERE id = ?').get(id) as never;

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the decode loop of a model that never yields
  }
}

describe('StreamingMessageWriter', () => {
  it('makes streamed text visible to another connection within the interval (timer path)', async () => {
    const interval = 100;
    const writer = StreamingMessageWriter.start(store, sessionId, { intervalMs: interval });
    const appended: { at: number; length: number; seenAfter?: number }[] = [];
    let text = '';
    const start = performance.now();
    let nextAppend = start;
    while (performance.now() - start < 900) {
      const now = performance.now();
      if (now >= nextAppend && now - start < 600) {
        const delta = `w${appended.length} `;
        writer.append(delta, 1);
        text += delta;
        appended.push({ at: now, length: text.length });
        nextAppend = now + 7;
      }
      const visible = onDisk(writer.messageId).text.length;
      for (const a of appended) if (a.seenAfter === undefined && a.length <= visible) a.seenAfter = now - a.at;
      await sleep(3);
    }
    expect(appended.length).toBeGreaterThan(30);
    const lags = appended.map((a) => a.seenAfter ?? Infinity);
    // Timer resolution, 3 ms polling and a loaded test machine add some time on top of the interval.
    expect(Math.max(...lags)).toBeLessThanOrEqual(interval + 150);
    expect(onDisk(writer.messageId)).toEqual({ text, state: 'streaming', token_count: appended.length });
    writer.finish('stopped');
    expect(onDisk(writer.messageId).state).toBe('stopped');
  });

  it('commits from append when the decode loop never yields (on-append path)', () => {
    const interval = 40;
    let lastCommitAt = 0;
    let committed = '';
    const writer = StreamingMessageWriter.start(store, sessionId, {
      intervalMs: interval,
      onCommit: (c) => {
        lastCommitAt = performance.now();
        committed = c.text;
      },
    });
    // the writer's clock starts once its message is stored: from here on, overdue for the test is overdue for it
    lastCommitAt = performance.now();
    let text = '';
    let commits = 0;
    const start = performance.now();
    while (performance.now() - start < 400) {
      const before = performance.now();
      const overdue = before - lastCommitAt >= interval;
      const seenBefore = committed;
      writer.append('tok ');
      text += 'tok ';
      // Timing-independent form of the guarantee: an append that finds the last commit older than
      // the interval commits before it returns, and the commit is visible to another connection.
      if (overdue) expect(lastCommitAt).toBeGreaterThanOrEqual(before);
      if (committed !== seenBefore) {
        commits++;
        expect(committed).toBe(text);
        expect(onDisk(writer.messageId).text).toBe(text);
      }
      busyWait(5);
    }
    expect(commits).toBeGreaterThanOrEqual(4); // ~400 / 45, not one at the end
    writer.finish();
    expect(onDisk(writer.messageId)).toMatchObject({ text, state: 'done' });
  });

  it('defaults to one second: nothing before, everything after', async () => {
    const writer = StreamingMessageWriter.start(store, sessionId);
    writer.append('Hello');
    expect(onDisk(writer.messageId).text).toBe('');
    await sleep(500);
    expect(onDisk(writer.messageId).text).toBe('');
    await sleep(600);
    expect(onDisk(writer.messageId).text).toBe('Hello');
    writer.finish();
  });

  it('never stores half a surrogate pair split across deltas', () => {
    const commits: string[] = [];
    const writer = StreamingMessageWriter.start(store, sessionId, { intervalMs: 10_000, onCommit: (c) => commits.push(c.text) });
    writer.append('a\uD83D'); // 😀 = D83D DE00, cut in half by the tokenizer stream
    writer.flush();
    expect(onDisk(writer.messageId).text).toBe('a');
    writer.append('\uDE00b');
    writer.flush();
    expect(onDisk(writer.messageId).text).toBe('a😀b');
    writer.append('\uD83D');
    const final = writer.finish('error'); // a dangling half at the very end is replaced, not dropped
    expect(final).toMatchObject({ text: 'a😀b\uFFFD', state: 'error' });
    expect(commits).toEqual(['a', 'a😀b', 'a😀b\uFFFD']);
  });

  it('finishes once, refuses more text, and can resume a message left streaming', () => {
    const writer = StreamingMessageWriter.start(store, sessionId, { intervalMs: 50 });
    writer.append('part one', 2);
    writer.flush();
    // A new writer (e.g. after reconnecting) continues from what is stored.
    const resumed = new StreamingMessageWriter(store, writer.messageId, { intervalMs: 50 });
    expect(resumed.text).toBe('part one');
    expect(resumed.tokenCount).toBe(2);
    resumed.append(', part two', 3);
    const done = resumed.finish();
    expect(done).toMatchObject({ text: 'part one, part two', tokenCount: 5, state: 'done' });
    expect(() => resumed.append('x')).toThrow(MessageWriterClosedError);
    expect(() => resumed.finish()).toThrow(MessageWriterClosedError);
    expect(() => new StreamingMessageWriter(store, done.id)).toThrow(MessageWriterClosedError);
    expect(() => new StreamingMessageWriter(store, 12345)).toThrow(/does not exist/);
    expect(() => StreamingMessageWriter.start(store, sessionId, { intervalMs: 0 })).toThrow(RangeError);
    expect(store.listMessages(sessionId)).toHaveLength(1);
  });
});

describe('what a streaming commit writes', () => {
  it("the message's pages, not the session's row nor the index of streaming messages; the answer's end touches the session", () => {
    // small tables: each of these is one page, its root
    const root = (name: string) => db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name) as number;
    const untouched = [root('sessions'), root('sessions_updated'), root('messages_streaming')];
    const writer = StreamingMessageWriter.start(store, sessionId, { intervalMs: 60_000 });
    const touched = store.getSession(sessionId)!.updatedAt;
    for (let i = 0; i < 5; i++) {
      const before = walFrames(db.name).pages.length;
      writer.append(`piece ${i} of the answer `, 1);
      writer.flush();
      const pages = walFrames(db.name).pages.slice(before);
      expect(pages.length).toBeGreaterThan(0);
      expect(pages.filter((p) => untouched.includes(p))).toEqual([]);
    }
    expect(onDisk(writer.messageId)).toMatchObject({ state: 'streaming', token_count: 5 });
    expect(store.getSession(sessionId)!.updatedAt).toBe(touched);
    const before = walFrames(db.name).pages.length;
    writer.finish('done');
    expect(walFrames(db.name).pages.slice(before)).toEqual(expect.arrayContaining(untouched));
    expect(onDisk(writer.messageId)).toMatchObject({ state: 'done', token_count: 5 });
  });

  it('no page of the search index: the answer is indexed once, at its end', () => {
    for (let i = 0; i < 20; i++) store.appendMessage(sessionId, { role: 'user', text: `earlier message ${i} `.repeat(20) });
    const ftsPages = () => db.prepare("SELECT DISTINCT pageno FROM dbstat WHERE name LIKE 'messages_fts%'").pluck().all() as number[];
    const ftsRows = () => db.prepare('SELECT count(*) AS n, sum(length(block)) AS bytes FROM messages_fts_data').get();
    const rowsBefore = ftsRows();
    const writer = StreamingMessageWriter.start(store, sessionId, { intervalMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      const before = walFrames(db.name).pages.length;
      writer.append(`streamed sentence number ${i} of a long answer about attention sinks. `.repeat(4), 20);
      writer.flush();
      const pages = walFrames(db.name).pages.slice(before);
      expect(pages.length).toBeGreaterThan(0);
      expect(pages.filter((p) => ftsPages().includes(p)), `commit ${i}`).toEqual([]);
    }
    expect(ftsRows()).toEqual(rowsBefore); // nor any segment written and merged away between the commits
    expect(store.search('attention sinks')).toEqual([]);
    const before = walFrames(db.name).pages.length;
    writer.finish('done');
    expect(walFrames(db.name).pages.slice(before).filter((p) => ftsPages().includes(p)).length).toBeGreaterThan(0);
    expect(store.search('attention sinks').map((h) => h.messageId)).toEqual([writer.messageId]);
    db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
  });
});
