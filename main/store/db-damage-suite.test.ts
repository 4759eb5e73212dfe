import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../../native-models/seeded-random.js';
import { testModelDir } from '../../native-models/test-models.js';
import { runMain } from '../cli/fixtures/cli-process.js';
import { PersistentChat } from '../core/persistent-chat.js';
import { CoreService } from '../core/core-service.js';
import { readChannel } from '../core/read-channel.js';
import type { ChatPacket } from '../api/packets.js';
import { PerpetuaError } from '../shared/errors.js';
import { Model } from '../engine/model.js';
import { ReliabilityTally, reliabilityScale } from '../eval/reliability-tally.js';
import { openDatabase } from './database.js';
import { AnswerNotSavedError, CacheNotSavedError, DatabaseFullError, DatabaseReadOnlyError } from './errors.js';
import { salvageMessages } from './salvage.js';
import { Store } from './store.js';

/**
 * The database damage suite: a chat database with damaged pages, cut short, made read-only, full, or replaced
 * by a pipe or a device. Every command either works or stops with one sentence and leaves the file as it was;
 * `export` still reads every message SQLite can read.
 */
const tally = new ReliabilityTally('database damage');
const dir = mkdtempSync(join(tmpdir(), 'perpetua-damage-'));
const PAGE = 4096;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const isSentence = (err: unknown) => {
  expect(err).toBeInstanceOf(PerpetuaError);
  expect((err as Error).message).toMatch(/^[^\n]+\.$/);
};

/** A database with three sessions of mixed short and page-spanning messages, and a snapshot each. */
function seedDatabase(): { file: string; texts: Map<number, string> } {
  const file = join(dir, 'seed.db');
  const store = new Store(openDatabase(file));
  const rand = mulberry32(18);
  const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' }).id;
  const texts = new Map<number, string>();
  for (let s = 0; s < 3; s++) {
    const session = store.createSession({ name: `chat ${s}`, modelId, policy: 'sink', policyParams: { sink: 4, window: 64 } });
    for (let i = 0; i < 40; i++) {
      const words = 5 + Math.floor(rand() ** 4 * 1500);
      const text = Array.from({ length: words }, () => `w${Math.floor(rand() * 5000)}`).join(' ');
      texts.set(store.appendMessage(session.id, { role: i % 2 ? 'assistant' : 'user', text }).id, text);
    }
    store.saveSnapshot(session.id, null, Uint8Array.from({ length: 20_000 }, () => Math.floor(rand() * 256)));
  }
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.db.close();
  return { file, texts };
}

type Damage = (file: string, rand: () => number) => string;
const pages = (file: string) => Math.floor(statSync(file).size / PAGE);
const page = (file: string, rand: () => number) => 1 + Math.floor(rand() * (pages(file) - 1));
const overwrite = (file: string, at: number, bytes: Buffer) => {
  const data = readFileSync(file);
  bytes.copy(data, at);
  writeFileSync(file, data);
};
const DAMAGES: [string, Damage][] = [
  ['zeroed page', (f, r) => { const p = page(f, r); overwrite(f, p * PAGE, Buffer.alloc(PAGE)); return `page ${p + 1}`; }],
  ['random page', (f, r) => { const p = page(f, r); overwrite(f, p * PAGE, Buffer.from(Array.from({ length: PAGE }, () => Math.floor(r() * 256)))); return `page ${p + 1}`; }],
  ['bit flips', (f, r) => {
    const data = readFileSync(f);
    const at = PAGE + Math.floor(r() * (data.length - PAGE));
    for (let i = 0; i < 8; i++) data[at + Math.floor(r() * 64)] ^= 1 << Math.floor(r() * 8);
    writeFileSync(f, data);
    return `byte ${at}`;
  }],
  ['truncated', (f, r) => { const size = Math.floor(r() * statSync(f).size); truncateSync(f, size); return `${size} bytes`; }],
  ['page copied over another', (f, r) => { const from = page(f, r); const to = page(f, r); overwrite(f, to * PAGE, readFileSync(f).subarray(from * PAGE, from * PAGE + PAGE)); return `page ${from + 1} → ${to + 1}`; }],
  ['header damage', (f, r) => { const at = 16 + Math.floor(r() * 84); overwrite(f, at, Buffer.from([Math.floor(r() * 256)])); return `header byte ${at}`; }],
];

/** What a user does with a chat database: list, read every transcript, search, write a message. */
function useDatabase(file: string): void {
  const store = new Store(openDatabase(file));
  try {
    for (const s of store.listSessions()) store.listMessages(s.id);
    store.search('w42');
    store.appendMessage(store.listSessions()[0].id, { role: 'user', text: 'still here?' });
  } finally {
    store.db.close();
  }
}

/** The messages plain SQLite reads by id from the damaged file: the export must hold every one. */
function readableByPlainSqlite(file: string, ids: Iterable<number>): number[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  const readable: number[] = [];
  for (const id of ids) {
    try {
      if (db.prepare('SELECT text FROM messages WHERE id = ?').get(id)) readable.push(id);
    } catch {
      // unreadable by SQLite itself
    }
  }
  db.close();
  return readable;
}

afterAll(() => tally.print());

describe('database damage suite', () => {
  const seed = seedDatabase();
  const figures = { messages: 0, exported: 0, readable: 0 };

  it(`random damage (${Math.round(36 * reliabilityScale())} cases, seeded): a sentence or success, nothing half-written, every readable message exported`, async () => {
    const mark = tally.bad.length;
    const rand = mulberry32(1806);
    for (let i = 0; i < Math.round(36 * reliabilityScale()); i++) {
      const [kind, damage] = DAMAGES[i % DAMAGES.length];
      const file = join(dir, `case-${i}.db`);
      copyFileSync(seed.file, file);
      const where = damage(file, rand);
      await tally.check(`${kind} (${where})`, () => {
        const before = sha(file);
        try {
          useDatabase(file);
        } catch (err) {
          isSentence(err);
          expect(sha(file)).toBe(before);
        }
        const { messages } = salvageMessages(file);
        const exported = new Set(messages.map((m) => m.id));
        const readable = readableByPlainSqlite(file, seed.texts.keys());
        expect(readable.filter((id) => !exported.has(id))).toEqual([]);
        figures.messages += seed.texts.size;
        figures.exported += messages.filter((m) => seed.texts.has(m.id)).length;
        figures.readable += readable.length;
      });
    }
    console.log(`database damage: ${figures.exported} of ${figures.messages} messages exported, plain SQLite reads ${figures.readable}`);
    expect(tally.bad.slice(mark)).toEqual([]);
  });

  it('export on a damaged database writes what it reads and says how much is missing', async () => {
    const mark = tally.bad.length;
    const file = join(dir, 'export.db');
    copyFileSync(seed.file, file);
    overwrite(file, 5 * PAGE, Buffer.alloc(PAGE));
    const out = join(dir, 'export.jsonl');
    await tally.check('export after a zeroed page', async () => {
      const before = sha(file);
      const r = await runMain(['export', '--db', file, '--out', out]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^Exported \d+ messages of 3 sessions to /);
      const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.length).toBeGreaterThan(seed.texts.size / 2);
      expect(sha(file)).toBe(before);
    });
    await tally.check('chat on a damaged database', async () => {
      const r = await runMain(['sessions', '--db', file, '--search', 'w1']);
      if (r.code !== 0) expect(r.stderr).toMatch(/^perpetua: The chat database .* is damaged or is not a database, .*perpetua export/);
    });
    expect(tally.bad.slice(mark)).toEqual([]);
  });

  it('read-only files and folders, FIFOs and links to devices are refused with a sentence, before anything hangs', async () => {
    const mark = tally.bad.length;
    const ro = join(dir, 'ro');
    execFileSync('mkdir', [ro]);
    const roFile = join(ro, 'chat.db');
    copyFileSync(seed.file, roFile);
    const root = process.getuid?.() === 0;
    // root ignores permission bits: an immutable file is read-only for root too
    const protect = (path: string, on: boolean) =>
      root ? execFileSync('chattr', [on ? '+i' : '-i', path]) : chmodSync(path, on ? 0o555 : 0o755);
    protect(roFile, true);
    try {
      await tally.check('writing to a read-only database', async () => {
        const before = sha(roFile);
        expect(() => openDatabase(roFile)).toThrow(/cannot be written \(the file, its folder or the disk is read-only\)/);
        expect(sha(roFile)).toBe(before);
      });
      await tally.check('listing a read-only database', async () => {
        const r = await runMain(['sessions', '--db', roFile]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^chat 0\t/m);
      });
    } finally {
      protect(roFile, false);
    }
    protect(ro, true);
    try {
      for (const [name, file] of [['an existing database in a read-only folder', roFile], ['a new database in a read-only folder', join(ro, 'new.db')]]) {
        await tally.check(name, () => expect(() => openDatabase(file)).toThrow(DatabaseReadOnlyError));
      }
    } finally {
      protect(ro, false);
    }
    const fifo = join(dir, 'chat.fifo');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero.db');
    symlinkSync('/dev/zero', zero);
    for (const [name, file] of [['FIFO', fifo], ['link to /dev/zero', zero]]) {
      await tally.check(`--db ${name}`, async () => {
        const r = await runMain(['sessions', '--db', file]);
        expect(r.code).toBe(1);
        expect(r.stderr.trim()).toMatch(/^perpetua: The chat database .* is a (pipe \(FIFO\)|device), not a file\.$/);
      });
    }
    expect(tally.bad.slice(mark)).toEqual([]);
  });

  it('a full disk stops the answer and says how much of what was shown is saved', async () => {
    const mark = tally.bad.length;
    const model = await Model.load(testModelDir());
    const file = join(dir, 'full.db');
    const store = new Store(openDatabase(file));
    const chat = await PersistentChat.open(store, model, { name: 'full', policy: { name: 'window', sink: 0, window: 64, pinSystem: false, evictChunk: 16 } });
    // SQLite answers SQLITE_FULL as on a full disk once the file may not grow by another page
    store.db.pragma(`max_page_count = ${(store.db.pragma('page_count', { simple: true }) as number) + 3}`);
    let shown = '';
    await tally.check('disk full while streaming', async () => {
      const err = await (async () => {
        for await (const ev of chat.send('Tell me a long story.', { maxTokens: 20_000, ignoreEos: true })) if (ev.type === 'token') shown += ev.text;
      })().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(AnswerNotSavedError);
      isSentence(err);
      expect((err as AnswerNotSavedError).reason).toBeInstanceOf(DatabaseFullError);
      const saved = store.listMessages(chat.session.id).at(-1)!;
      expect((err as Error).message).toMatch(new RegExp(`Of the ${(err as AnswerNotSavedError).shownChars} characters of this answer shown, the first ${saved.text.length} are saved\\.$`));
      expect(shown.startsWith(saved.text)).toBe(true);
      expect(shown.length - saved.text.length).toBeLessThan(shown.length);
      // the search index agrees with the messages it holds after the failed commits
      store.db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
    });
    store.db.close();
    await model.dispose();
    expect(tally.bad.slice(mark)).toEqual([]);
  });
  /** SQLite answers SQLITE_FULL, as on a full disk, once the file may not grow by a page: the disk fills right then. */
  const fillDisk = (db: Database.Database) => db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);

  it('a full disk while the cache is saved after an answer: the answer stays done, a sentence says so, nothing is lost', async () => {
    const mark = tally.bad.length;
    const model = await Model.load(testModelDir());
    const file = join(dir, 'full-snapshot.db');
    const store = new Store(openDatabase(file));
    const chat = await PersistentChat.open(store, model, { name: 'full', policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
    await tally.check('disk full during the snapshot (CLI)', async () => {
      const save = chat.saveSnapshot.bind(chat);
      chat.saveSnapshot = async (...args) => {
        fillDisk(store.db); // the answer is stored; the disk fills under its snapshot
        return save(...args);
      };
      let shown = '';
      const err = await (async () => {
        for await (const ev of chat.send('Tell me a story.', { maxTokens: 12 })) if (ev.type === 'token') shown += ev.text;
      })().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CacheNotSavedError);
      isSentence(err);
      expect((err as CacheNotSavedError).code).toBe('disk_full');
      expect((err as Error).message).toMatch(/is full, .* The answer itself is saved; only the cache's copy is not, so reopening the chat reads its transcript again\.$/);
      const answer = store.listMessages(chat.session.id).at(-1)!;
      expect(answer).toMatchObject({ role: 'assistant', state: 'done', text: shown });
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });
    chat.close();
    store.db.close();
    await tally.check('reopened after the disk full: the transcript is whole and read again', async () => {
      const again = new Store(openDatabase(file));
      try {
        const reopened = await PersistentChat.open(again, model, { name: 'full' });
        expect(again.listMessages(reopened.session.id).map((m) => m.state)).toEqual(['done', 'done']);
        expect(reopened.restored.reread).toBeGreaterThan(0);
        reopened.close();
      } finally {
        again.db.close();
      }
    });
    await model.dispose();
    expect(tally.bad.slice(mark)).toEqual([]);
  });

  it('the app on a full disk: the turn ends done with a notice, and closing still closes the models and the database', async () => {
    const mark = tally.bad.length;
    const file = join(dir, 'full-app.db');
    const core = new CoreService({ dbFile: file, maxAnswerTokens: 12 });
    const { id: modelId } = await core.modelsImport({ dir: testModelDir() });
    const { id } = await core.sessionsCreate({ name: 'full', modelId, policy: { name: 'sink', sink: 4, window: 60, pinSystem: false } });
    await core.sessionsOpen({ id });
    const parts = (core as unknown as { parts: { store: Store; library: { loaded: Map<string, Promise<Model>> } } }).parts;
    const db = parts.store.db;
    await tally.check('disk full during the snapshot (app)', async () => {
      const runner = await (core as unknown as { parts: { sessions: { runner(id: string): Promise<{ chat: PersistentChat }> } } }).parts.sessions.runner(id);
      const save = runner.chat.saveSnapshot.bind(runner.chat);
      runner.chat.saveSnapshot = async (...args) => {
        fillDisk(db);
        return save(...args);
      };
      const last = await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: id, text: 'Tell me a story.' }, signal)).closed;
      expect(last.type).toBe('done');
      if (last.type !== 'done') return;
      expect(last.message.state).toBe('done');
      expect(last.notice?.code).toBe('disk_full');
      expect(last.notice?.message).toMatch(/^The disk holding the chat database .* is full, .* The answer itself is saved/);
      expect(parts.store.getMessage(Number(last.message.id))!.state).toBe('done');
    });
    await tally.check('close on a full disk closes the models and the database', async () => {
      const models = await Promise.all([...parts.library.loaded.values()]);
      expect(models.length).toBe(1);
      const disposed = models.map((m) => vi.spyOn(m, 'dispose'));
      await core.close().catch((err: unknown) => expect(err).toBeInstanceOf(PerpetuaError));
      for (const d of disposed) expect(d).toHaveBeenCalled();
      expect(parts.library.loaded.size).toBe(0);
      expect(db.open).toBe(false);
    });
    await tally.check('reopened after the disk full: nothing lost', async () => {
      const store = new Store(openDatabase(file));
      try {
        const session = store.listSessions()[0];
        expect(store.listMessages(session.id).map((m) => m.state)).toEqual(['done', 'done']);
        expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        store.db.close();
      }
    });
    expect(tally.bad.slice(mark)).toEqual([]);
  });
});
