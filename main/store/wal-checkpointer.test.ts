import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { Store } from './store.js';
import { walFrames } from './fixtures/wal-frames.js';
import { WalCheckpointer } from './wal-checkpointer.js';

const KIB = 1024;
const newFile = () => join(mkdtempSync(join(tmpdir(), 'perpetua-wal-')), 'chat.db');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const blob = (i: number, bytes: number) => Buffer.alloc(bytes, i % 251);

/** Waits (polling, never a fixed sleep) until `done()` holds; fails after `ms`. */
async function until(done: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The core's connection never checkpoints inside a commit (SQLite's auto-checkpoint copied the WAL into the database,
 * with two fsyncs, inside whichever commit filled it past 1,000 pages); a worker thread does, once the WAL passes its
 * threshold, and the WAL stays bounded.
 */
describe('WAL checkpoints off the core thread', () => {
  it('a commit only appends to the WAL: 8 MB of commits leave the database file as it was', () => {
    const file = newFile();
    const db = openDatabase(file, { walCheckpointBytes: 2 ** 30 });
    db.exec('CREATE TABLE t (b BLOB)');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const [before, size] = [sha(file), statSync(file).size];
    const insert = db.prepare('INSERT INTO t (b) VALUES (?)');
    for (let i = 0; i < 64; i++) insert.run(blob(i, 128 * KIB));
    expect(sha(file)).toBe(before);
    expect(statSync(file).size).toBe(size);
    expect(walFrames(file).commits).toBe(64);
    db.close();
    // the WAL holds the commits: a reopen sees all of them
    const again = openDatabase(file);
    expect(again.prepare('SELECT count(*) FROM t').pluck().get()).toBe(64);
    again.close();
  });

  it('the worker checkpoints once the WAL passes the threshold, and the WAL starts over: 32 MB written through a 1 MiB WAL', async () => {
    const file = newFile();
    const threshold = 1024 * KIB;
    const db = openDatabase(file, { walCheckpointBytes: threshold });
    const checkpointer = WalCheckpointer.of(db)!;
    db.exec('CREATE TABLE t (i INTEGER, b BLOB)');
    const insert = db.prepare('INSERT INTO t (i, b) VALUES (?, ?)');
    const commit = 64 * KIB;
    let largest = 0;
    for (let i = 0; i < 512; i++) {
      insert.run(i, blob(i, commit));
      largest = Math.max(largest, statSync(`${file}-wal`).size);
      // the turns of a chat come with time between them; here the writer waits for the checkpoint it caused
      if (walFrames(file).bytes >= threshold) {
        const done = checkpointer.checkpoints;
        await until(() => checkpointer.checkpoints > done);
        expect(checkpointer.last).toMatchObject({ ok: true, busy: false });
      }
    }
    // bounded: the threshold, the commit that crossed it and its frame headers
    expect(largest).toBeLessThanOrEqual(threshold + 2 * commit);
    expect(checkpointer.checkpoints).toBeGreaterThanOrEqual(20);
    // the database file holds what was checkpointed: everything but the WAL's tail
    expect(statSync(file).size).toBeGreaterThan(512 * commit - 2 * threshold);
    db.close();
    const again = openDatabase(file);
    expect(again.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(again.prepare('SELECT count(*), sum(i) FROM t').raw().get()).toEqual([512, (511 * 512) / 2]);
    again.close();
  });

  it('deleting a chat gives its space back through the worker thread', async () => {
    const file = newFile();
    const store = new Store(openDatabase(file));
    const checkpointer = WalCheckpointer.of(store.db)!;
    const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' }).id;
    const ids = Array.from({ length: 8 }, (_, i) => {
      const s = store.createSession({ name: `chat ${i}`, modelId, policy: 'sink', policyParams: {} });
      store.saveSnapshot(s.id, null, blob(i, 512 * KIB));
      return s.id;
    });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const full = statSync(file).size;
    for (const id of ids.slice(0, 6)) store.deleteSession(id);
    // the vacuumed pages leave the file once the worker has copied the WAL (the WAL is far below its threshold)
    await until(() => checkpointer.checkpoints > 0 && statSync(file).size < full - 5 * 512 * KIB);
    expect(store.listSessions().length).toBe(2);
    store.db.close();
  });

  it('leaves the WAL alone while nothing new comes: an idle chat makes no checkpoints', async () => {
    const file = newFile();
    const db = openDatabase(file, { walCheckpointBytes: 256 * KIB });
    const checkpointer = WalCheckpointer.of(db)!;
    db.exec('CREATE TABLE t (b BLOB)');
    db.prepare('INSERT INTO t (b) VALUES (?)').run(blob(1, 512 * KIB));
    await until(() => checkpointer.checkpoints === 1);
    // the WAL keeps its size until the next commit starts it over; the checks that follow see nothing new in it
    const checked = statSync(`${file}-wal`).mtimeMs;
    await until(() => checkpointer.checks >= 4);
    expect(checkpointer.checkpoints).toBe(1);
    expect(statSync(`${file}-wal`).mtimeMs).toBe(checked);
    db.close();
  });
});
