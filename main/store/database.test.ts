import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from './database.js';
import { DatabaseError, DatabaseVersionError } from './errors.js';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-db-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const tables = (db: Database.Database): string[] =>
  db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'trigger', 'index') ORDER BY name").pluck().all() as string[];

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('openDatabase', () => {
  it('creates the schema with WAL, foreign keys, busy timeout and NORMAL sync', () => {
    const file = join(dir, 'chats.db');
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(tables(db)).toEqual(
      expect.arrayContaining(['models', 'sessions', 'messages', 'snapshots', 'ab_runs', 'eval_runs', 'messages_fts']),
    );
    db.close();
  });

  it('is idempotent across reopen: no migration runs twice and data survives', () => {
    const file = join(dir, 'chats.db');
    const db1 = openDatabase(file);
    db1.prepare("INSERT INTO eval_runs (created_at, kind, model, params, result) VALUES (1, 'k', 'm', '{}', '{}')").run();
    const schema = tables(db1);
    db1.close();
    for (let i = 0; i < 3; i++) {
      const db = openDatabase(file);
      expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
      expect(tables(db)).toEqual(schema);
      expect(db.prepare('SELECT count(*) FROM eval_runs').pluck().get()).toBe(1);
      db.close();
    }
  });

  it('applies only pending migrations, in order, and rolls back a failing one with its version bump', () => {
    const file = join(dir, 'chats.db');
    openDatabase(file).close();
    const applied: string[] = [];
    const extra: Migration[] = [
      ...MIGRATIONS,
      { name: 'add notes', up: (db) => (applied.push('notes'), void db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')) },
      {
        name: 'broken',
        up: (db) => {
          applied.push('broken');
          db.exec('CREATE TABLE half_done (id INTEGER)');
          db.exec('THIS IS NOT SQL');
        },
      },
    ];
    const error = catchError(() => openDatabase(file, { migrations: extra }));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(new RegExp(`could not be upgraded \\(step ${MIGRATIONS.length + 2}, broken`));
    expect(applied).toEqual(['notes', 'broken']);
    const raw = new Database(file, { readonly: true });
    expect(schemaVersion(raw)).toBe(SCHEMA_VERSION + 1); // 'add notes' committed on its own
    expect(tables(raw)).toContain('notes');
    expect(tables(raw)).not.toContain('half_done');
    raw.close();
  });

  it('refuses a database from a newer version and leaves the file byte-identical', () => {
    const file = join(dir, 'chats.db');
    openDatabase(file).close();
    // Rewrite as a rollback-journal file with a future version.
    const raw = new Database(file);
    raw.pragma('journal_mode = DELETE');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const before = sha(file);

    const error = catchError(() => openDatabase(file));
    expect(error).toBeInstanceOf(DatabaseVersionError);
    expect(error).toMatchObject({ found: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION });
    expect((error as Error).message).toMatch(/newer version of Perpetua/);
    expect(sha(file)).toBe(before);
    expect(existsSync(`${file}-wal`)).toBe(false);
    // Still in rollback-journal mode: not even the WAL switch happened.
    expect(readFileSync(file)[18]).toBe(1);
  });

  it('refuses a newer WAL database whose last commits are still in the -wal file, touching neither file', () => {
    const file = join(dir, 'chats.db');
    const db = openDatabase(file);
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`user_version = ${SCHEMA_VERSION + 7}`);
    // Keep the WAL un-checkpointed: copy the files while this connection is still open, as after a crash.
    const crashed = join(dir, 'crashed.db');
    writeFileSync(crashed, readFileSync(file));
    writeFileSync(`${crashed}-wal`, readFileSync(`${file}-wal`));
    db.close();
    const [mainBefore, walBefore] = [sha(crashed), sha(`${crashed}-wal`)];
    // The new version lives only in the WAL (header offset 60 holds user_version).
    expect(readFileSync(crashed).readUInt32BE(60)).not.toBe(SCHEMA_VERSION + 7);

    const error = catchError(() => openDatabase(crashed));
    expect(error).toBeInstanceOf(DatabaseVersionError);
    expect(error).toMatchObject({ found: SCHEMA_VERSION + 7 });
    expect(sha(crashed)).toBe(mainBefore);
    expect(sha(`${crashed}-wal`)).toBe(walBefore);
  });

  it('refuses a file that is not a SQLite database, without changing it', () => {
    const file = join(dir, 'notes.db');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(100));
    const before = sha(file);
    const error = catchError(() => openDatabase(file));
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).not.toBeInstanceOf(DatabaseVersionError);
    expect((error as Error).message).toBe(`The file ${file} is not a Perpetua chat database (it is not an SQLite file).`);
    expect(sha(file)).toBe(before);

    const tiny = join(dir, 'tiny.db');
    writeFileSync(tiny, 'SQLite');
    expect(catchError(() => openDatabase(tiny))).toBeInstanceOf(DatabaseError);
  });

  it('refuses a damaged SQLite file and a folder', () => {
    const file = join(dir, 'damaged.db');
    const header = Buffer.alloc(4096, 0xab);
    Buffer.from('SQLite format 3\0', 'latin1').copy(header);
    writeFileSync(file, header);
    const error = catchError(() => openDatabase(file));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/damaged or is not a database/);

    const folder = join(dir, 'folder.db');
    mkdirSync(folder);
    expect((catchError(() => openDatabase(folder)) as Error).message).toMatch(/is a folder/);
  });

  it("refuses another program's SQLite database", () => {
    const file = join(dir, 'other.db');
    const other = new Database(file);
    other.exec('CREATE TABLE contacts (name TEXT)');
    other.close();
    const before = sha(file);
    const error = catchError(() => openDatabase(file));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/another program/);
    expect(sha(file)).toBe(before);
  });

  it('accepts an empty file (as SQLite does) and an in-memory database', () => {
    const file = join(dir, 'empty.db');
    writeFileSync(file, '');
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    db.close();
    const mem = openDatabase(':memory:');
    expect(schemaVersion(mem)).toBe(SCHEMA_VERSION);
    mem.close();
  });
});
