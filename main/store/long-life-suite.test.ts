import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ReliabilityTally } from '../eval/reliability-tally.js';
import { CoreService } from '../core/core-service.js';
import { number } from '../cli/options.js';
import { parseDecimal } from '../shared/decimal-text.js';
import { PerpetuaError } from '../shared/errors.js';
import { openDatabase } from './database.js';
import { SessionLockedError } from './errors.js';
import { LEASE_MS, SessionLocks } from './session-locks.js';
import { Store } from './store.js';
import { sqliteBinding } from './native-binding.js';
import { runMain } from '../cli/fixtures/cli-process.js';

/**
 * The long-life suite: what years of use and unlucky machines do to a database. Locks of holders that are gone are
 * recognised without the host name (a lease, the boot id) and their cut-off answers marked; deleted chats give their
 * space back; comma decimals and non-UTF-8 paths are read or refused with a sentence.
 */
const tally = new ReliabilityTally('long life');
const dir = mkdtempSync(join(tmpdir(), 'perpetua-long-life-'));
let reported = 0;
let dbs = 0;
const bootId = () => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() as string;
  } catch {
    return '';
  }
};

afterAll(() => {
  tally.print();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => expect(tally.bad.slice(reported, (reported = tally.bad.length))).toEqual([]));

function freshStore(): Store {
  return new Store(openDatabase(join(dir, `db${dbs++}.db`)));
}

/** A session with an answer left streaming, locked by a holder described by `lock`. */
function lockedSession(store: Store, lock: { pid: number; host: string; start?: string; acquiredAgoMs: number; renewedAgoMs: number; boot: string }) {
  const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: `f${dbs}` }).id;
  const session = store.createSession({ name: `chat ${Math.random()}`, modelId, policy: 'sink', policyParams: {} });
  const answer = store.appendMessage(session.id, { role: 'assistant', text: 'cut off mid-', state: 'streaming' });
  const now = Date.now();
  store.db
    .prepare('INSERT INTO session_locks (session_id, pid, host, process_start, holder, acquired_at, renewed_at, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .run(session.id, lock.pid, lock.host, lock.start ?? '1', 'perpetua chat', now - lock.acquiredAgoMs, now - lock.renewedAgoMs, lock.boot);
  return { session, answer };
}

/** A process that stays alive until stopped (a live holder on this machine). */
function liveProcess(): { pid: number; stop(): void } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  return { pid: child.pid!, stop: () => child.kill() };
}

describe('long-life suite', () => {
  const HOUR = 3_600_000;
  const stale: [string, () => Parameters<typeof lockedSession>[1]][] = [
    ['a crashed holder on a host renamed since (macOS)', () => ({ pid: 999_999, host: 'MacBook-Pro.local', acquiredAgoMs: 2 * HOUR, renewedAgoMs: 2 * HOUR, boot: 'another-boot' })],
    ['a crashed holder on another machine of a shared drive', () => ({ pid: 1, host: 'other-machine', acquiredAgoMs: HOUR, renewedAgoMs: LEASE_MS + 1000, boot: 'its-boot' })],
    ['a dead holder in this boot under an old host name', () => ({ pid: 999_999, host: 'old-name', acquiredAgoMs: 1000, renewedAgoMs: 1000, boot: bootId() })],
    ['a holder from before a reboot, same host name', () => ({ pid: process.pid, host: hostname(), acquiredAgoMs: 2 * HOUR, renewedAgoMs: 2 * HOUR, boot: 'before-reboot' })],
  ];
  for (const [what, lock] of stale) {
    it(`takes over the chat of ${what}, and marks its cut-off answer stopped`, async () => {
      await tally.check(`stale lock: ${what}`, () => {
        const store = freshStore();
        try {
          const { session, answer } = lockedSession(store, lock());
          store.markInterruptedMessages(); // at start: a gone holder's answer is cut off
          expect(store.getMessage(answer.id)!.state).toBe('stopped');
          new SessionLocks(store.db).acquire(session.id, session.name, 'test');
          new SessionLocks(store.db).release(session.id);
        } finally {
          store.db.close();
        }
      });
    });
  }

  it('a holder whose lease was renewed recently keeps its chat, with a sentence that says when it lets go', async () => {
    await tally.check('renewed lease on another host', () => {
      const store = freshStore();
      try {
        const { session, answer } = lockedSession(store, { pid: 1, host: 'other-machine', acquiredAgoMs: HOUR, renewedAgoMs: 10_000, boot: 'its-boot' });
        store.markInterruptedMessages();
        expect(store.getMessage(answer.id)!.state).toBe('streaming');
        expect(store.search('cut off')).toEqual([]); // search finds an answer once it has ended
        const locks = new SessionLocks(store.db);
        expect(() => locks.acquire(session.id, session.name, 'test')).toThrow(SessionLockedError);
        expect(() => locks.acquire(session.id, session.name, 'test')).toThrow(/within 90 s of its last sign of life/);
        // once its lease runs out with no renewal, the chat is free, and the answer it left is marked cut off
        const later = new SessionLocks(store.db, () => Date.now() + LEASE_MS);
        later.acquire(session.id, session.name, 'test');
        expect(store.getMessage(answer.id)!.state).toBe('stopped');
        expect(store.search('cut off').map((h) => h.messageId)).toEqual([answer.id]);
        store.db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
        later.release(session.id);
      } finally {
        store.db.close();
      }
    });
  });

  it('a live holder in this boot keeps its chat whatever the host is called now', async () => {
    await tally.check('live holder, renamed host', async () => {
      const store = freshStore();
      const other = liveProcess();
      try {
        const start = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
        const { session } = lockedSession(store, {
          pid: other.pid,
          host: 'renamed-host',
          start: start.slice(start.lastIndexOf(')') + 2).split(' ')[19],
          acquiredAgoMs: 2 * HOUR,
          renewedAgoMs: 2 * HOUR, // its renewals would not matter: the pid says it runs
          boot: bootId(),
        });
        expect(() => new SessionLocks(store.db).acquire(session.id, session.name, 'test')).toThrow(SessionLockedError);
      } finally {
        other.stop();
        store.db.close();
      }
    });
  });

  it('a chat whose holder looks alive only by its lease is taken over at once on request (CLI and API), its answer marked cut off', async () => {
    await tally.check('take over a live-looking lease', async () => {
      const file = join(dir, `takeover${dbs++}.db`);
      const store = new Store(openDatabase(file));
      const { session, answer } = lockedSession(store, { pid: 1, host: 'MacBook-Pro.local', acquiredAgoMs: HOUR, renewedAgoMs: 5_000, boot: 'its-boot' });
      const other = lockedSession(store, { pid: 1, host: 'other-machine', acquiredAgoMs: HOUR, renewedAgoMs: 5_000, boot: 'its-boot' });
      store.db.close();
      // the CLI: a sentence, the answer cut off, and the chat opens here
      const r = await runMain(['sessions', '--db', file, '--take-over', session.name]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`Took over "${session.name}"; the answer it was writing is marked cut off. It opens here now.`);
      const after = new Store(openDatabase(file));
      try {
        expect(after.getMessage(answer.id)!.state).toBe('stopped');
        const locks = new SessionLocks(after.db);
        locks.acquire(session.id, session.name, 'test');
        locks.release(session.id);
        expect((await runMain(['sessions', '--db', file, '--take-over', session.name])).stdout).toMatch(/^No other Perpetua process has ".*" open; there is nothing to take over\.\n$/);
        expect((await runMain(['sessions', '--db', file, '--take-over', 'no such chat'])).stderr).toMatch(/There is no session "no such chat"/);
      } finally {
        after.db.close();
      }
      // the app: sessions.takeOver, then the chat opens
      const core = new CoreService({ dbFile: file });
      try {
        await core.sessionsTakeOver({ id: String(other.session.id) });
        const store2 = (core as unknown as { store: Store }).store;
        expect(store2.getMessage(other.answer.id)!.state).toBe('stopped');
        expect(() => new SessionLocks(store2.db).acquire(other.session.id, other.session.name, 'test')).not.toThrow();
      } finally {
        await core.close();
      }
    });
  });

  it('a take-over is refused, with a sentence, while the holder provably runs on this computer (this boot, its pid alive)', async () => {
    await tally.check('take over refused: holder running', async () => {
      const file = join(dir, `takeover${dbs++}.db`);
      const store = new Store(openDatabase(file));
      const holder = liveProcess();
      try {
        const start = readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
        const { session, answer } = lockedSession(store, {
          pid: holder.pid,
          host: 'renamed-host',
          start: start.slice(start.lastIndexOf(')') + 2).split(' ')[19],
          acquiredAgoMs: 2 * HOUR,
          renewedAgoMs: 2 * HOUR,
          boot: bootId(),
        });
        store.db.close();
        const r = await runMain(['sessions', '--db', file, '--take-over', session.name]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`cannot be taken over: the Perpetua process that has it open (perpetua chat, pid ${holder.pid}) is still running on this computer`);
        expect(r.stderr).not.toMatch(/unexpected/i);
        const core = new CoreService({ dbFile: file });
        try {
          const err = await core.sessionsTakeOver({ id: String(session.id) }).then(() => null, (e: unknown) => e);
          expect(err).toMatchObject({ code: 'session_holder_running' });
          expect((core as unknown as { store: Store }).store.getMessage(answer.id)!.state).toBe('streaming'); // still being written
        } finally {
          await core.close();
        }
      } finally {
        holder.stop();
      }
    });
  });

  it('the holder renews its lease, and stops renewing a lock it no longer holds', async () => {
    await tally.check('lease renewal', () => {
      const store = freshStore();
      try {
        const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'r' }).id;
        const s = store.createSession({ name: 'renewed', modelId, policy: 'sink', policyParams: {} });
        const locks = new SessionLocks(store.db);
        locks.acquire(s.id, s.name, 'test');
        store.db.prepare('UPDATE session_locks SET renewed_at = 0').run();
        expect(locks.renew(s.id)).toBe(true);
        const renewed = store.db.prepare('SELECT renewed_at FROM session_locks WHERE session_id = ?').pluck().get(s.id) as number;
        expect(Date.now() - renewed).toBeLessThan(5000);
        locks.release(s.id);
        expect(locks.renew(s.id)).toBe(false);
      } finally {
        store.db.close();
      }
    });
  });

  it('deleting half the chats gives their space back (incremental auto_vacuum), measured', async () => {
    await tally.check('space back after deletes', () => {
      const file = join(dir, 'space.db');
      const store = new Store(openDatabase(file));
      expect(store.db.pragma('auto_vacuum', { simple: true })).toBe(2);
      const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 's' }).id;
      const text = 'a long answer that fills pages. '.repeat(1500); // ~48 KB
      const snapshot = new Uint8Array(512 * 1024).map((_, i) => (i * 7919) & 0xff);
      const ids: number[] = [];
      for (let i = 0; i < 40; i++) {
        const s = store.createSession({ name: `chat ${i}`, modelId, policy: 'sink', policyParams: {} });
        for (let m = 0; m < 5; m++) store.appendMessage(s.id, { role: 'assistant', text: `${m} ${text}`, state: 'done' });
        store.saveSnapshot(s.id, null, snapshot);
        ids.push(s.id);
      }
      // what rows hold (the search index keeps deleted words as tombstones until its segments merge, so it is not counted)
      const rowBytes = () => store.db.prepare("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('messages', 'snapshots')").pluck().get() as number;
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      const full = statSync(file).size;
      const rowsBefore = rowBytes();
      for (const id of ids.slice(0, 20)) store.deleteSession(id);
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      const after = statSync(file).size;
      const freed = rowsBefore - rowBytes();
      console.log(
        `long life: 40 chats ${(full / 2 ** 20).toFixed(1)} MiB; 20 deleted (${(freed / 2 ** 20).toFixed(1)} MiB of rows): ${(after / 2 ** 20).toFixed(1)} MiB, ${store.db.pragma('freelist_count', { simple: true })} free pages left`,
      );
      expect(store.db.pragma('freelist_count', { simple: true })).toBe(0);
      expect(full - after).toBeGreaterThanOrEqual(0.9 * freed);
      store.db.close();
    });
  });

  it('a database from before auto_vacuum is converted at open and then shrinks too', async () => {
    await tally.check('legacy database converted', () => {
      const file = join(dir, 'legacy.db');
      const store = new Store(openDatabase(file));
      store.db.close();
      const raw = new Database(file, { nativeBinding: sqliteBinding() });
      raw.pragma('auto_vacuum = NONE');
      raw.exec('VACUUM');
      expect(raw.pragma('auto_vacuum', { simple: true })).toBe(0);
      raw.close();
      const reopened = openDatabase(file);
      expect(reopened.pragma('auto_vacuum', { simple: true })).toBe(2);
      reopened.close();
    });
  });

  it('closing the core closes the database even when a part before it fails (a full disk under the last snapshot)', async () => {
    await tally.check('close after a failing part', async () => {
      const core = new CoreService({ dbFile: join(dir, 'close.db') });
      await core.modelsList();
      // (what a request asks, in words, for the shell's sentence should the core freeze on it)
      const store = (core as unknown as { store: Store }).store;
      const modelId = store.upsertModel({ name: 'SmolLM2-135M', dir: 'm', fingerprint: 'c' }).id;
      const chat = store.createSession({ name: 'Notes', modelId, policy: 'sink', policyParams: {} });
      expect(core.describeRequest('chat.send', { sessionId: String(chat.id), text: 'hi' })).toBe('chat.send in the chat "Notes" with the model SmolLM2-135M');
      expect(core.describeRequest('chat.send', { sessionId: '0x1' })).toBe('chat.send');
      const parts = (core as unknown as { parts: { library: { close(): Promise<void> } } }).parts;
      parts.library.close = async () => {
        throw new Error('database or disk is full');
      };
      await expect(core.close()).rejects.toThrow(/disk is full/);
      expect((core as unknown as { store: Store }).store.db.open).toBe(false);
    });
  });

  it('a clock stepped back keeps the chat in use at the top of the list', async () => {
    await tally.check('clock stepped back', () => {
      const store = freshStore();
      const clock = vi.spyOn(Date, 'now');
      try {
        const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'clock' }).id;
        const t0 = 1_800_000_000_000;
        clock.mockReturnValue(t0);
        const older = store.createSession({ name: 'older', modelId, policy: 'sink', policyParams: {} });
        clock.mockReturnValue(t0 + HOUR);
        const newer = store.createSession({ name: 'newer', modelId, policy: 'sink', policyParams: {} });
        const order = () => store.listSessions().map((s) => s.name);
        expect(order()).toEqual(['newer', 'older']);
        // the clock goes back two hours (set by hand, a dead RTC battery, a sync): the chat used now still comes first
        clock.mockReturnValue(t0 - HOUR);
        const answer = store.appendMessage(older.id, { role: 'assistant', text: 'hi', state: 'streaming' });
        expect(order()).toEqual(['older', 'newer']);
        store.updateMessageText(answer.id, 'hi there', 'done');
        store.renameSession(newer.id, 'renamed');
        expect(order()).toEqual(['renamed', 'older']);
        store.addTokensSeen(older.id, 5);
        expect(order()).toEqual(['older', 'renamed']);
        expect(store.createSession({ name: 'made now', modelId, policy: 'sink', policyParams: {} }).name).toBe('made now');
        expect(order()[0]).toBe('made now');
      } finally {
        clock.mockRestore();
        store.db.close();
      }
    });
  });

  it('the marks of chat work: one per chat while any request on it runs, kept when the engine dies, never failing the work', async () => {
    await tally.check('chat work marks', () => {
      const file = join(dir, `work${dbs++}.db`);
      const store = new Store(openDatabase(file));
      const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'work' }).id;
      const [a, b] = ['a', 'b'].map((name) => store.createSession({ name, modelId, policy: 'sink', policyParams: {} }));
      const marked = (s: Store) => s.chatWork.leftOver().map((w) => w.sessionId);
      store.chatWork.begin(a.id, 'sessions.open');
      store.chatWork.begin(a.id, 'chat.send');
      store.chatWork.end(a.id);
      expect(marked(store)).toEqual([a.id]); // one request on it still runs
      store.chatWork.end(a.id);
      expect(marked(store)).toEqual([]);
      store.chatWork.begin(b.id, 'chat.send');
      store.db.close(); // the engine dies in it
      const next = new Store(openDatabase(file));
      try {
        expect(next.chatWork.leftOver()).toMatchObject([{ sessionId: b.id, what: 'chat.send' }]);
        expect(next.chatWork.isLeftOver(b.id)).toBe(true);
        next.chatWork.begin(a.id, 'sessions.open');
        next.chatWork.endAll(); // a clean quit ends its own work, and leaves the mark it found
        expect(marked(next)).toEqual([b.id]);
        // a full disk: marking fails quietly, the work goes on
        next.db.pragma(`max_page_count = ${next.db.pragma('page_count', { simple: true }) as number}`);
        const filler = next.db.prepare('INSERT INTO chat_work (session_id, what, started_at) VALUES (?, ?, 0)');
        expect(() => filler.run(a.id, 'x'.repeat(100_000))).toThrow(/full/);
        expect(() => next.chatWork.begin(a.id, 'x'.repeat(100_000))).not.toThrow();
        // opened fine by hand: its mark goes
        next.chatWork.begin(b.id, 'sessions.open');
        next.chatWork.end(b.id);
        expect(next.chatWork.isLeftOver(b.id)).toBe(false);
      } finally {
        next.db.close();
      }
    });
  });

  it('comma decimals: read where a person types them, refused with what to type on the command line', async () => {
    await tally.check('locale decimals', () => {
      expect(parseDecimal('0,7')).toBe(0.7);
      expect(parseDecimal(' 0.7 ')).toBe(0.7);
      expect(parseDecimal('7')).toBe(7);
      expect(parseDecimal('')).toBeNull();
      for (const t of ['1.000,5', '1,000.5', '0,7,1', '7 0', '0x10', '1e3', 'abc']) expect(parseDecimal(t), t).toBeNaN();
      expect(() => number('0,7', 'temperature')).toThrow(/--temperature must be a number, not "0,7" \(decimals take a point: 0\.7\)\./);
    });
  });

  it('a database path that is not valid UTF-8 is refused with a sentence, not opened under another name', async () => {
    await tally.check('non-UTF-8 path', () => {
      const latin1 = Buffer.from([0x63, 0x68, 0xe2, 0x74, 0x2e, 0x64, 0x62]).toString('utf8'); // "chât.db" in Latin-1
      let err: unknown;
      try {
        openDatabase(join(dir, latin1)).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PerpetuaError);
      expect((err as Error).message).toMatch(/is not valid UTF-8/);
    });
  });
});
